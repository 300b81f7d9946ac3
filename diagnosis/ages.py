"""A patient's age on the day of a study, said as a paediatric reader says it (days, months, then years)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone


def age_at(birth: date | None, on: date | None) -> str:
    """ "12 d" under a month, "14 mo" under two years, else "5 y"; "" when unknown or born after `on`."""
    if birth is None or on is None or on < birth:
        return ""
    months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
    if months < 1:
        return f"{(on - birth).days} d"
    if months < 24:
        return f"{months} mo"
    return f"{months // 12} y"


def study_day(study: Any) -> date:
    """The day a study was taken: its study date, else the (local) day it was uploaded."""
    return study.study_date or timezone.localdate(study.created_at)


def study_age(study: Any) -> str:
    """The patient's age on the study's day ("" without a birth date)."""
    return age_at(study.patient.birth_date, study_day(study))
