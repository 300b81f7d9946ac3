"""A poison image fails only its own study, with a reason, and the worker lives on; time limits end a
study in a clear failed state (soft limit caught by the task, hard limit by the worker's signal handler)."""

from __future__ import annotations

import struct

import pytest
from django.core.files.base import ContentFile

from audit.models import AuditEvent
from diagnosis.models import Image, Prediction, Study
from diagnosis.services.studies import study_enqueue
from tests.conftest import wait_for_status
from tests.faults.conftest import pool_children, task_limits, upload, worker_log
from tests.fixtures.dicoms import malformed_display_dicom, xray_dicom


def stored_study(user, data: bytes, name: str, *, lose_file: bool = False) -> Study:
    """A study whose file is already stored (it passed an older validator), enqueued like any other."""
    study = Study.objects.create(patient=_patient(user), created_by=user)
    image = Image(study=study, sha256="0" * 64, size_bytes=len(data), width=400, height=303, format="DICOM")
    image.file.save(name, ContentFile(data), save=True)
    if lose_file:
        image.file.storage.delete(image.file.name)
    study_enqueue(study_id=study.id)
    return study


def _patient(user):
    from diagnosis.models import Patient

    return Patient.objects.get_or_create(mrn="MRN-POISON", defaults={"created_by": user})[0]


def assert_failed(study_id, code: str | None, reason_part: str = "") -> Study:
    """Failed with a reason (and the given code), no prediction, one study.failed audit row."""
    study = wait_for_status(study_id, Study.FINAL_STATUSES, timeout=90)
    assert study.status == Study.Status.FAILED and study.error_code, study.status_reason
    assert code is None or study.error_code == code, (study.error_code, study.status_reason)
    assert len(study.status_reason) > 10 and reason_part in study.status_reason
    assert "Traceback" not in study.status_reason
    assert not Prediction.objects.filter(study=study).exists()
    assert AuditEvent.objects.filter(action="study.failed", object_id=str(study.id)).count() == 1
    return study


def test_poison_image_fails_only_its_study_and_the_worker_lives_on(api, alice, xray_bytes, celery_worker):
    children = pool_children(celery_worker)
    # Stored before a decoder fix (Window Width 0 once raised ValueError inside pydicom): whatever the
    # decoder now says, the study ends failed with a reason.
    poison = stored_study(alice, malformed_display_dicom("window_width_zero"), "poison.dcm")
    assert_failed(poison.id, code=None)
    # A study whose stored file vanished fails with its own reason too.
    missing = stored_study(alice, xray_dicom(), "gone.dcm", lose_file=True)
    assert_failed(missing.id, "image_missing", "stored image is missing")
    # The same worker, same pool process, completes the next study.
    body = upload(api, alice, xray_bytes)
    study = wait_for_status(body["id"], Study.FINAL_STATUSES, timeout=60)
    assert study.status == Study.Status.COMPLETED and Prediction.objects.filter(study=study).count() == 1
    assert celery_worker.poll() is None and pool_children(celery_worker) == children


class CrashingDecoder:
    """Stands in for a decoder bug on one hostile file: raises outside the InvalidImage contract."""

    version = "crashing-decoder"

    def predict(self, data: bytes) -> None:
        raise struct.error("unpack requires a buffer of 8 bytes")


@pytest.mark.django_db
def test_unexpected_decoder_crash_fails_the_study_with_a_reason(alice, xray_bytes):
    """The service contract behind the worker: any exception from decoding fails only that study."""
    from diagnosis.services.predictions import prediction_run
    from diagnosis.services.studies import StudyUpload, study_create

    upload_ = StudyUpload(image_name="x.jpg", image_data=xray_bytes, patient_mrn="MRN-CRASH")
    study = study_create(user=alice, upload=upload_).study
    assert prediction_run(study_id=study.id, predictor=CrashingDecoder()) is None
    study.refresh_from_db()
    assert (study.status, study.error_code) == (Study.Status.FAILED, "analysis_error")
    assert "error" in study.status_reason and "Traceback" not in study.status_reason
    assert AuditEvent.objects.filter(action="study.failed", object_id=str(study.id)).count() == 1


def test_soft_time_limit_fails_the_study_and_the_next_one_completes(
    api, alice, xray_bytes, workers, hold_file
):
    hold_file.touch()
    env = {"AIRSPACE_TEST_HOLD_FILE": str(hold_file), "CELERY_TASK_SOFT_TIME_LIMIT": "2"}
    worker = workers(env={**env, "CELERY_TASK_TIME_LIMIT": "10"}, name="soft-limit")
    with task_limits(soft=2, hard=10):
        slow = upload(api, alice, xray_bytes)
        assert_failed(slow["id"], "timeout", "2 s time limit")
        hold_file.unlink()
        body = upload(api, alice, xray_bytes, name="next.jpg")
    assert "Soft time limit (2" in worker_log(worker)
    assert wait_for_status(body["id"], Study.FINAL_STATUSES, timeout=60).status == Study.Status.COMPLETED
    assert worker.poll() is None


def test_hard_time_limit_fails_the_study_and_the_pool_recovers(api, alice, xray_bytes, workers, hold_file):
    """No soft limit (0): the pool kills the child at the hard limit; the worker marks the study failed."""
    hold_file.touch()
    env = {"AIRSPACE_TEST_HOLD_FILE": str(hold_file), "CELERY_TASK_SOFT_TIME_LIMIT": "0"}
    worker = workers(env={**env, "CELERY_TASK_TIME_LIMIT": "3"}, name="hard-limit")
    with task_limits(soft=None, hard=3):
        slow = upload(api, alice, xray_bytes)
        assert_failed(slow["id"], "timeout", "3 s time limit")
        assert "Hard time limit (3" in worker_log(worker)
        hold_file.unlink()
        body = upload(api, alice, xray_bytes, name="next.jpg")
    assert wait_for_status(body["id"], Study.FINAL_STATUSES, timeout=60).status == Study.Status.COMPLETED
    assert worker.poll() is None
