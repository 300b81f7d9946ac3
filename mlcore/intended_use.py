"""Intended-use notices: the model was trained on frontal chest X-rays of children aged 1-5.

Non-blocking: a flagged study is still analysed, and the reader is told why the result may not apply.
Age comes from the patient's birth date and the study date when known, else from DICOM PatientAge.
"""

from __future__ import annotations

import datetime as dt

ADULT_AGE_YEARS = 16
INFANT_AGE_YEARS = 1
AGE_FLAGS = ("adult_patient", "infant_patient")

# What each flag tells the reader (shown on the study page; the API returns the codes).
FLAG_NOTICES = {
    "adult_patient": f"Patient older than {ADULT_AGE_YEARS} years at the study date: the model was trained on "
    "children aged 1-5 and is not validated for adults.",
    "infant_patient": f"Patient younger than {INFANT_AGE_YEARS} year at the study date: the model was trained "
    "on children aged 1-5 and is not validated for infants.",
    "lateral_view": "Lateral view (DICOM ViewPosition): the model was trained on frontal (AP/PA) views only.",
}


def flag_notice(code: str) -> str:
    """The reader-facing sentence for a flag code (the code itself if unknown)."""
    return FLAG_NOTICES.get(code, code)


def _anniversary(birth_date: dt.date, years: int) -> dt.date:
    """The date the patient turns `years` (29 February birthdays fall on 1 March in common years)."""
    try:
        return birth_date.replace(year=birth_date.year + years)
    except ValueError:
        return dt.date(birth_date.year + years, 3, 1)


def age_flags_from_birth_date(birth_date: dt.date, on: dt.date) -> tuple[str, ...]:
    """adult_patient when older than 16 on `on` (past the 16th birthday), infant_patient before the first."""
    if on > _anniversary(birth_date, ADULT_AGE_YEARS):
        return ("adult_patient",)
    if on < _anniversary(birth_date, INFANT_AGE_YEARS):
        return ("infant_patient",)
    return ()


def age_flags_from_years(age_years: float | None) -> tuple[str, ...]:
    """The same flags from an age in years (DICOM PatientAge, e.g. "017Y" -> 17.0, "026D" -> 0.071)."""
    if age_years is None:
        return ()
    if age_years > ADULT_AGE_YEARS:
        return ("adult_patient",)
    if age_years < INFANT_AGE_YEARS:
        return ("infant_patient",)
    return ()
