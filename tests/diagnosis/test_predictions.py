"""The prediction service with the shipped model: claim, record, idempotency, explained final states."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from diagnosis.models import Prediction, Study
from diagnosis.services.predictions import prediction_run
from diagnosis.services.studies import StudyUpload, study_create
from mlcore.calibration import label_confidence
from tests.fixtures.hostile import document, encode, xray_image

pytestmark = pytest.mark.django_db


def new_study(user, data: bytes, name: str = "x.jpg") -> Study:
    return study_create(
        user=user, upload=StudyUpload(image_name=name, image_data=data, patient_mrn="P-1")
    ).study


def test_run_records_prediction_and_completes(alice, xray_bytes, predictor):
    study = new_study(alice, xray_bytes)
    prediction = prediction_run(study_id=study.id, predictor=predictor)
    study.refresh_from_db()
    assert study.status == Study.Status.COMPLETED and study.completed_at is not None
    assert 0 <= prediction.probability <= 1 and prediction.label in {"NORMAL", "PNEUMONIA"}
    assert prediction.confidence == pytest.approx(label_confidence(prediction.probability, prediction.label))
    assert prediction.label == ("PNEUMONIA" if prediction.probability >= prediction.threshold else "NORMAL")
    assert prediction.model_version == predictor.version and prediction.heatmap.name.endswith(".png")
    assert prediction.heatmap.read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert AuditEvent.objects.filter(action="prediction.create", object_id=str(prediction.id)).exists()


def test_second_delivery_does_nothing(alice, xray_bytes, predictor):
    study = new_study(alice, xray_bytes)
    assert prediction_run(study_id=study.id, predictor=predictor) is not None
    assert prediction_run(study_id=study.id, predictor=predictor) is None
    assert Prediction.objects.filter(study=study).count() == 1


def test_claim_held_by_a_live_worker_is_not_taken(alice, xray_bytes, predictor):
    study = new_study(alice, xray_bytes)
    Study.objects.filter(id=study.id).update(
        status=Study.Status.PROCESSING, processing_started_at=timezone.now()
    )
    assert prediction_run(study_id=study.id, predictor=predictor) is None
    assert not Prediction.objects.filter(study=study).exists()


def test_stale_claim_of_a_dead_worker_is_taken_over(alice, xray_bytes, predictor):
    study = new_study(alice, xray_bytes)
    Study.objects.filter(id=study.id).update(
        status=Study.Status.PROCESSING,
        processing_started_at=timezone.now() - timedelta(minutes=10),
        attempts=1,
    )
    assert prediction_run(study_id=study.id, predictor=predictor) is not None
    study.refresh_from_db()
    assert study.status == Study.Status.COMPLETED and study.attempts == 2


def test_a_claim_taken_over_during_the_model_run_records_nothing(alice, xray_bytes, predictor, settings):
    """The completion, the prediction's INSERT and the audit event are one conditional unit: a worker whose
    claim was taken over meanwhile writes no row, no event and leaves no heatmap file."""
    from django.core.files.storage import default_storage

    study = new_study(alice, xray_bytes)

    def taken_over() -> None:
        later = timezone.now() + timedelta(seconds=1)
        Study.objects.filter(id=study.id).update(processing_started_at=later, processing_worker="other")

    settings.AIRSPACE_BEFORE_PREDICT_HOOK = taken_over
    events = AuditEvent.objects.count()
    files_before = default_storage.listdir(f"studies/{study.id}")[1]
    assert prediction_run(study_id=study.id, predictor=predictor, worker="me") is None
    assert not Prediction.objects.filter(study=study).exists() and AuditEvent.objects.count() == events
    assert default_storage.listdir(f"studies/{study.id}")[1] == files_before  # the heatmap was removed
    study.refresh_from_db()
    assert (study.status, study.processing_worker) == (Study.Status.PROCESSING, "other")


def test_non_chest_image_is_rejected_with_a_reason_and_no_probability(alice, predictor):
    study = new_study(alice, encode(document(), "PNG"), name="scan.png")
    assert prediction_run(study_id=study.id, predictor=predictor) is None
    study.refresh_from_db()
    assert study.status == Study.Status.REJECTED and study.error_code == "not_chest_xray"
    assert study.status_reason and not study.predictions.exists()
    assert AuditEvent.objects.filter(action="study.rejected", object_id=str(study.id)).exists()


def _bogus_huffman_table(jpeg: bytes) -> bytes:
    """The JPEG with its first Huffman table's code counts overflowing: the header parses, the data cannot."""
    at = jpeg.find(b"\xff\xc4") + 5  # marker, length, table class/id
    return jpeg[:at] + b"\xff" * 16 + jpeg[at + 16 :]


def test_a_jpeg_the_upload_check_passes_but_libjpeg_cannot_read_fails_with_the_reason(alice, predictor):
    """The upload check reads a JPEG's header and structure only; what only the decode finds ends the study
    failed with the decoder's explanation, its stored file kept, and no prediction."""
    study = new_study(alice, _bogus_huffman_table(encode(xray_image(), "JPEG", quality=90)))
    assert study.status == Study.Status.QUEUED and study.images.get().file.size > 0
    assert prediction_run(study_id=study.id, predictor=predictor) is None
    study.refresh_from_db()
    assert study.status == Study.Status.FAILED and study.error_code == "corrupt_image"
    assert "cannot be decoded" in study.status_reason and not study.predictions.exists()


def test_poison_study_fails_after_repeated_crashes(alice, xray_bytes, predictor):
    study = new_study(alice, xray_bytes)
    Study.objects.filter(id=study.id).update(attempts=3)
    assert prediction_run(study_id=study.id, predictor=predictor) is None
    study.refresh_from_db()
    assert study.status == Study.Status.FAILED and study.error_code == "processing_crashed"


def _multi_view(user, first: tuple[str, bytes], *others: tuple[str, bytes]) -> Study:
    from diagnosis.services.studies import study_create

    upload = StudyUpload(image_name=first[0], image_data=first[1], patient_mrn="P-MV")
    return study_create(user=user, upload=upload, extra_images=others).study


def test_a_dicom_lateral_uploaded_first_gives_way_to_the_frontal_view(alice, xray_bytes, predictor):
    from tests.fixtures.dicoms import xray_dicom

    study = _multi_view(alice, ("lateral.dcm", xray_dicom(view="LL")), ("frontal.jpg", xray_bytes))
    prediction = prediction_run(study_id=study.id, predictor=predictor)
    lateral, frontal = study.images.order_by("created_at")
    assert "lateral_view" in lateral.meta["flags"]
    assert prediction.image == frontal and "lateral_view" not in prediction.flags
    # The viewer shows the analysed view, the one its heatmap belongs to.
    from diagnosis.services.media import media_response

    media_response(user=alice, study=study, kind="display")
    shown = AuditEvent.objects.filter(action="image.view").latest("id")
    assert shown.object_id == str(frontal.id)


def test_an_image_the_gate_refuses_does_not_reject_a_study_with_a_chest_xray(alice, xray_bytes, predictor):
    study = _multi_view(alice, ("scan.png", encode(document(), "PNG")), ("chest.jpg", xray_bytes))
    prediction = prediction_run(study_id=study.id, predictor=predictor)
    study.refresh_from_db()
    assert study.status == Study.Status.COMPLETED
    assert prediction.image == study.images.order_by("created_at").last()


def test_a_study_whose_every_image_is_refused_is_rejected_saying_so(alice, predictor):
    pages = [(f"page{i}.png", encode(document(), "PNG")) for i in range(2)]
    study = _multi_view(alice, *pages)
    assert prediction_run(study_id=study.id, predictor=predictor) is None
    study.refresh_from_db()
    assert study.status == Study.Status.REJECTED and not study.predictions.exists()
    assert study.status_reason.startswith("None of the study's 2 images was accepted.")
