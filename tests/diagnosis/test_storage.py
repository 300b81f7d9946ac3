"""stored_files: a file written for a row is removed when the row, its audit event or the commit fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.files.storage import default_storage
from django.db import transaction

from diagnosis.models import Image, Prediction, Study
from diagnosis.services import predictions, studies
from diagnosis.services.storage import stored_files
from diagnosis.services.studies import StudyUpload, study_create
from tests.diagnosis.factories import png_bytes

pytestmark = pytest.mark.django_db


def _files_under(folder: str) -> set[str]:
    """Every stored file name below a media folder (empty when the folder does not exist)."""
    if not default_storage.exists(folder):
        return set()
    dirs, files = default_storage.listdir(folder)
    return {f"{folder}/{f}" for f in files} | {n for d in dirs for n in _files_under(f"{folder}/{d}")}


@contextmanager
def _commit_that_fails() -> Iterator[None]:
    """Stands in for a transaction whose COMMIT is refused after its body succeeded."""
    with transaction.atomic():
        yield
    raise RuntimeError("COMMIT refused")


def test_a_failed_commit_removes_the_file_its_block_wrote() -> None:
    image = Image(study_id=uuid.uuid4(), format="PNG")
    with pytest.raises(RuntimeError, match="COMMIT refused"), stored_files() as files, _commit_that_fails():
        name = files.save(image.file, "view.png", png_bytes())
        assert default_storage.exists(name)
    assert not default_storage.exists(name)


def test_a_failed_further_view_leaves_no_study_and_no_file(alice, monkeypatch) -> None:
    """One upload with two views: the second view's audit event fails, so nothing of the upload stays."""
    before = _files_under("studies")
    real = studies._image_event

    def fail_on_the_second_view(**kwargs):
        if not kwargs["primary"]:
            raise RuntimeError("audit unavailable")
        return real(**kwargs)

    monkeypatch.setattr(studies, "_image_event", fail_on_the_second_view)
    upload = StudyUpload(image_name="front.png", image_data=png_bytes(), patient_mrn="P-STORE")
    with pytest.raises(RuntimeError, match="audit unavailable"):
        study_create(user=alice, upload=upload, extra_images=[("lateral.png", png_bytes(shade=120))])
    assert not Study.objects.filter(patient__mrn="P-STORE").exists()
    assert _files_under("studies") == before


def test_the_heatmap_goes_when_its_prediction_is_not_recorded(alice, xray_bytes, predictor, monkeypatch):
    """The heatmap copy used to outlive a failed commit; now a failure after it is written removes it."""
    study = study_create(
        user=alice, upload=StudyUpload(image_name="x.jpg", image_data=xray_bytes, patient_mrn="P-HEAT")
    ).study
    before = _files_under(f"studies/{study.id}")

    def audit_down(*_, **__):
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr(predictions, "audit_record", audit_down)  # SQLite's path
    monkeypatch.setattr(predictions, "audit_record_if_changed", audit_down)  # PostgreSQL's
    with pytest.raises(RuntimeError, match="audit unavailable"):
        predictions.prediction_run(study_id=study.id, predictor=predictor)
    assert not Prediction.objects.filter(study=study).exists()
    assert _files_under(f"studies/{study.id}") == before
