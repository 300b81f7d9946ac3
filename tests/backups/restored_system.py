"""Run against a restored deployment (own DATABASE_URL and AIRSPACE_VAR_DIR): print what it holds as JSON,
verify the audit trail, and make one new upload. `python tests/backups/restored_system.py XRAY_PATH`."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def model(name: str):  # noqa: ANN201 - by class name: robust to models moving between apps
    from django.apps import apps

    return next(m for m in apps.get_models() if m.__name__ == name)


def snapshot() -> dict:
    """Every study, image (with the sha256 of the bytes in storage), prediction, review and audit event."""
    images = {}
    for image in model("Image").objects.order_by("id"):
        with image.file.open("rb") as handle:
            images[str(image.id)] = {
                "name": image.file.name,
                "sha256": hashlib.sha256(handle.read()).hexdigest(),
            }
    return {
        "studies": sorted(str(i) for i in model("Study").objects.values_list("id", flat=True)),
        "images": images,
        "predictions": sorted(str(i) for i in model("Prediction").objects.values_list("id", flat=True)),
        "reviews": sorted(str(i) for i in model("Review").objects.values_list("id", flat=True)),
        "audit": [[i, h] for i, h in model("AuditEvent").objects.order_by("id").values_list("id", "hash")],
    }


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from audit.services.events import audit_verify
    from diagnosis.services.studies import StudyUpload, study_create

    before = snapshot()
    verify = audit_verify()
    alice = get_user_model().objects.get(username="alice")
    data = Path(sys.argv[1]).read_bytes()
    created = study_create(
        user=alice, upload=StudyUpload(image_name="new.jpg", image_data=data, patient_mrn="MRN-NEW-1")
    )
    image = created.study.images.get()
    with image.file.open("rb") as handle:
        stored_ok = hashlib.sha256(handle.read()).hexdigest() == image.sha256
    after_verify = audit_verify()
    print(
        json.dumps(
            {
                "snapshot": before,
                "verify_ok": verify.ok,
                "problems": verify.problems,
                "new_upload": {"status": created.study.status, "stored_ok": stored_ok},
                "verify_after_upload_ok": after_verify.ok,
            }
        )
    )


if __name__ == "__main__":
    main()
