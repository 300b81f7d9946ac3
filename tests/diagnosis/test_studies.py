"""Upload service: validation, private storage, atomic rows + audit, enqueue after commit, idempotency."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.models import AuditEvent
from diagnosis.models import Image, Patient, Study
from diagnosis.services.images import safe_filename
from diagnosis.services.studies import StudyUpload, study_cancel, study_create
from portal.errors import DomainError, PayloadTooLarge

pytestmark = pytest.mark.django_db


def upload(data: bytes, mrn: str = "MRN-1", name: str = "xray.jpg", **kw) -> StudyUpload:
    return StudyUpload(image_name=name, image_data=data, patient_mrn=mrn, **kw)


def test_upload_records_rows_file_and_audit_and_enqueues_after_commit(
    alice, xray_bytes, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        created = study_create(user=alice, upload=upload(xray_bytes, patient_name="Ada Lovelace"))
    study = created.study
    assert created.created and study.status == Study.Status.QUEUED
    # The task is enqueued only once the transaction commits (the others stream the audit anchor).
    enqueues = [c for c in callbacks if not c.__qualname__.startswith("anchor_stream_on_commit")]
    assert len(enqueues) == 1
    image = study.images.get()
    assert image.width > 0 and image.height > 0 and image.format == "JPEG" and len(image.sha256) == 64
    stored = Path(settings.MEDIA_ROOT) / image.file.name
    assert stored.read_bytes() == xray_bytes
    assert "xray" not in image.file.name  # storage key is random, never the user's name
    assert Patient.objects.get(mrn="MRN-1").name == "Ada Lovelace"
    assert AuditEvent.objects.filter(action="study.upload", object_id=str(study.id), actor=alice).exists()


def test_corrupt_upload_is_refused_with_nothing_written(alice, settings):
    with pytest.raises(DomainError) as caught:
        study_create(user=alice, upload=upload(b"\xff\xd8\xff\xe0 truncated"))
    assert caught.value.code in {"corrupt_image", "unsupported_format"}
    assert not Study.objects.exists() and not Image.objects.exists() and not Patient.objects.exists()
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.*"))


def test_oversize_upload_is_413(alice, settings, xray_bytes):
    settings.AIRSPACE_MAX_UPLOAD_BYTES = len(xray_bytes) - 1
    with pytest.raises(PayloadTooLarge) as caught:
        study_create(user=alice, upload=upload(xray_bytes))
    assert caught.value.status_code == 413 and caught.value.code == "file_too_large"


def test_idempotency_key_returns_the_same_study(alice, xray_bytes):
    first = study_create(user=alice, upload=upload(xray_bytes), idempotency_key="k-1")
    again = study_create(user=alice, upload=upload(xray_bytes), idempotency_key="k-1")
    assert first.created and not again.created and again.study.id == first.study.id
    assert Study.objects.count() == 1


def test_duplicate_image_is_accepted_and_points_at_the_earlier_study(alice, xray_bytes):
    first = study_create(user=alice, upload=upload(xray_bytes))
    second = study_create(user=alice, upload=upload(xray_bytes, mrn="MRN-2"))
    assert second.created and second.duplicate_of == first.study
    assert second.study.duplicate_of_id == first.study.id


def test_duplicate_of_is_not_revealed_across_scopes(alice, bob, xray_bytes):
    study_create(user=alice, upload=upload(xray_bytes))
    theirs = study_create(user=bob, upload=upload(xray_bytes, mrn="MRN-9"))
    assert theirs.duplicate_of is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("a\x00b.jpg", "ab.jpg"),
        ("x" * 600 + ".jpg", "x" * 200),
        ("C:\\evil\\..\\x.png", "x.png"),
        ("", "upload"),
        (".hidden", "hidden"),
    ],
)
def test_hostile_file_names_are_neutralised(raw, expected):
    assert safe_filename(raw) == expected


def test_cancel_only_queued(alice, xray_bytes):
    study = study_create(user=alice, upload=upload(xray_bytes)).study
    assert study_cancel(user=alice, study=study).status == Study.Status.CANCELLED
    with pytest.raises(DomainError):
        study_cancel(user=alice, study=study)
    assert AuditEvent.objects.filter(action="study.cancel").count() == 1
