"""Patient context on pages: the age at a study's date, or today."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from diagnosis.ages import age_at, study_age

register = template.Library()


@register.filter
def age_at_study(study: Any) -> str:
    """The patient's age on the day of the study ("" without a birth date)."""
    return study_age(study)


@register.filter
def age_today(patient: Any) -> str:
    """The patient's age today ("" without a birth date)."""
    return age_at(patient.birth_date, timezone.localdate())
