"""The site-calibration loop on real parts: API uploads of the committed X-rays and a deliberately shifted copy
(lower contrast, brighter exposure) -> a real Celery worker -> reviews signed through the API with the true
labels -> `site_calibrate --from-reviews --activate` -> new uploads labelled with the new profile, old ones not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image as PILImage
from PIL import ImageEnhance

from audit.models import AuditEvent
from diagnosis.models import Prediction
from modelops.models import OperatingProfile
from tests.conftest import wait_for_status, xray_paths

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def shifted_copy(path: Path, contrast: float = 0.7, brightness: float = 1.15) -> bytes:
    """The same film as another site's equipment might render it: flatter and brighter."""
    with PILImage.open(path) as image:
        film = ImageEnhance.Contrast(image.convert("L")).enhance(contrast)
        out = io.BytesIO()
        ImageEnhance.Brightness(film).enhance(brightness).save(out, format="JPEG", quality=90)
    return out.getvalue()


def upload(api, name: str, data: bytes, mrn: str) -> str:
    image = SimpleUploadedFile(name, data, content_type="image/jpeg")
    response = api.post("/api/v1/studies/", {"image": image, "patient_mrn": mrn}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def sign(api, study_id: str, truth: str) -> None:
    """Sign the read with the true label: agree when the AI said it, else override with the reason."""
    ai_label = api.get(f"/api/v1/studies/{study_id}/").json()["prediction"]["label"]
    if ai_label == truth:
        body = {"decision": "agree"}
    else:
        body = {
            "decision": "override",
            "final_label": truth,
            "reason": "missed_finding" if truth == "PNEUMONIA" else "false_alarm",
        }
    response = api.post(f"/api/v1/studies/{study_id}/review/", body, format="json")
    assert response.status_code == 201, response.content


def test_reads_calibrate_the_site_profile_and_new_uploads_use_it(
    celery_worker, api, alice, carol, admin_user
):
    # 1. Upload each committed film and its shifted copy (same patient), as a clinician, through the API.
    api.force_authenticate(alice)
    uploads: list[tuple[str, str]] = []
    for i, path in enumerate(xray_paths()):
        for variant, data in (("orig", path.read_bytes()), ("shift", shifted_copy(path))):
            uploads.append((upload(api, f"{variant}-{path.name}", data, f"SITE-{i}"), path.parent.name))
    for study_id, _ in uploads:
        assert wait_for_status(study_id, ("completed", "failed", "rejected")).status == "completed"
    default = OperatingProfile.objects.get(active=True)
    assert default.source == "bundle"
    before = {p.id: (p.operating_profile_id, p.threshold, p.label) for p in Prediction.objects.all()}
    assert {profile for profile, _, _ in before.values()} == {default.pk}
    # 2. The radiologist signs every read with the true label.
    api.force_authenticate(carol)
    for study_id, truth in uploads:
        sign(api, study_id, truth)
    # 3. Calibrate from the reads and activate (the reason is recorded only if the safety rail asks for it).
    out = io.StringIO()
    call_command(
        "site_calibrate",
        "--from-reviews",
        "--activate",
        "--override-reason",
        "test fixtures",
        "--user",
        admin_user.username,
        stdout=out,
    )
    site = OperatingProfile.objects.get(active=True)
    assert site.source == "reviews" and site.supersedes_id == default.pk
    assert site.metrics["sample"] == {"normal": 40, "pneumonia": 40, "reads": 80, "patients": 40}
    assert (site.temperature, site.bias, site.threshold) != (default.temperature, 0.0, default.threshold)
    assert f"Profile #{site.pk}" in out.getvalue() and "active" in out.getvalue()
    assert AuditEvent.objects.filter(
        action="profile.activate", object_id=str(site.pk), actor=admin_user
    ).exists()
    # 4. A new upload is labelled with the site profile; the API says which; past predictions are unchanged.
    api.force_authenticate(alice)
    fresh = upload(api, "new.jpg", shifted_copy(xray_paths()[-1], 0.75, 1.1), "SITE-NEW")
    assert wait_for_status(fresh, ("completed", "failed", "rejected")).status == "completed"
    body = api.get(f"/api/v1/studies/{fresh}/").json()["prediction"]
    assert body["operating_profile"]["id"] == site.pk and body["operating_profile"]["source"] == "reviews"
    assert body["threshold"] == pytest.approx(site.threshold) and body["model_version"] == site.model_version
    assert {
        p.id: (p.operating_profile_id, p.threshold, p.label)
        for p in Prediction.objects.exclude(study_id=fresh)
    } == before
