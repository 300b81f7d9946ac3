"""Intended-use flags on a prediction, from the patient's age at the study date whatever the image format."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from diagnosis.models import Image, Study
from mlcore.intended_use import AGE_FLAGS, age_flags_from_birth_date, age_flags_from_years


def study_reference_date(study: Study) -> dt.date:
    """The date the patient's age is taken at: the study date, else the upload date (site time zone)."""
    if study.study_date is not None:
        return study.study_date
    return timezone.localdate(study.created_at) if study.created_at else timezone.localdate()


def patient_age_flags(*, study: Study, image_meta: dict[str, Any] | None = None) -> tuple[str, ...]:
    """adult_patient / infant_patient from the entered birth date; DICOM PatientAge only when there is none.

    The entered birth date wins over the header: it is the record the clinician confirmed, and a JPEG or
    PNG carries no age at all.
    """
    birth_date = study.patient.birth_date
    if birth_date is not None:
        return age_flags_from_birth_date(birth_date, study_reference_date(study))
    return age_flags_from_years((image_meta or {}).get("patient_age_years"))


def prediction_flags(*, study: Study, image: Image, result_flags: Iterable[str]) -> list[str]:
    """The prediction's flags: the age flags decided here, then the image's other flags (e.g. lateral_view)."""
    others = [flag for flag in result_flags if flag not in AGE_FLAGS]
    return [*patient_age_flags(study=study, image_meta=image.meta), *others]
