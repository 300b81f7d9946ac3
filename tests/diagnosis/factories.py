"""factory_boy factories for clinical records (with real, small image files)."""

from __future__ import annotations

import hashlib
import io
from datetime import date

import factory
import pydicom
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from diagnosis.models import Image, Label, Patient, Prediction, Study
from mlcore.calibration import label_confidence


def png_bytes(size: int = 96, shade: int = 90) -> bytes:
    """A small grayscale PNG."""
    buffer = io.BytesIO()
    PILImage.new("L", (size, size), shade).save(buffer, format="PNG")
    return buffer.getvalue()


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"MRN{n:05d}")
    name = factory.Faker("name")
    created_by = None


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    patient = factory.SubFactory(PatientFactory, created_by=factory.SelfAttribute("..created_by"))
    priority = Study.Priority.ROUTINE
    status = Study.Status.QUEUED


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    study = factory.SubFactory(StudyFactory)
    format = "PNG"
    width = 96
    height = 96
    original_filename = "xray.png"
    file = factory.LazyAttribute(lambda o: ContentFile(png_bytes(), name="x.png"))
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(png_bytes()).hexdigest())
    size_bytes = factory.LazyAttribute(lambda o: len(png_bytes()))


class PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prediction

    study = factory.SubFactory(StudyFactory)
    image = factory.LazyAttribute(lambda o: o.study.images.first() or ImageFactory(study=o.study))
    model_version = "test-model"
    probability = 0.9
    threshold = 0.5
    label = factory.LazyAttribute(lambda o: Label.PNEUMONIA if o.probability >= o.threshold else Label.NORMAL)
    confidence = factory.LazyAttribute(lambda o: label_confidence(o.probability, o.label))
    indeterminate = False


def completed_study(
    *,
    created_by,
    probability: float = 0.9,
    priority: str = Study.Priority.ROUTINE,
    indeterminate: bool = False,
    threshold: float = 0.5,
) -> Study:
    """A completed study with an image and a prediction."""
    study = StudyFactory(created_by=created_by, status=Study.Status.COMPLETED, priority=priority)
    ImageFactory(study=study)
    label = Label.PNEUMONIA if probability >= threshold else Label.NORMAL
    PredictionFactory(
        study=study, probability=probability, label=label, threshold=threshold, indeterminate=indeterminate
    )
    return study


def film_study(
    *,
    created_by,
    data: bytes,
    patient: Patient | None = None,
    probability: float = 0.9,
    **fields,
) -> Study:
    """A completed study whose analysed image is the given DICOM file (the viewer's 16-bit films)."""
    header = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    study = StudyFactory(
        created_by=created_by,
        status=Study.Status.COMPLETED,
        **({"patient": patient} if patient is not None else {}),
        **fields,
    )
    image = ImageFactory(
        study=study,
        format="DICOM",
        original_filename="film.dcm",
        file=ContentFile(data, name="film.dcm"),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=int(header.Columns),
        height=int(header.Rows),
        deidentified=True,
    )
    PredictionFactory(study=study, image=image, probability=probability)
    return study


def patient_with_two_films(*, created_by) -> tuple[Study, Study]:
    """Ada, born 2021-01-15: last year's film (12-bit MONOCHROME1, read as Normal by the AI) and this
    year's (16-bit, its own window, urgent): tests/fixtures/viewer's prior and current."""
    from tests.fixtures.viewer_dicoms import CURRENT, PRIOR

    ada = Patient.objects.create(
        mrn="VIEW-0001", name="Ada Lovelace", birth_date=date(2021, 1, 15), created_by=created_by
    )
    films = (
        (PRIOR, date(2025, 3, 1), "ACC-PRIOR-7", "Cough, fever", 0.2, Study.Priority.ROUTINE),
        (
            CURRENT,
            date(2026, 3, 1),
            "ACC-2026-0042",
            "Fever for three days, crackles right base",
            0.91,
            "urgent",
        ),
    )
    prior, current = (
        film_study(
            created_by=created_by,
            data=path.read_bytes(),
            patient=ada,
            study_date=taken,
            accession_number=accession,
            clinical_notes=notes,
            probability=probability,
            priority=priority,
        )
        for path, taken, accession, notes, probability, priority in films
    )
    return prior, current
