"""Wrong-patient checks: entered details against the record on file, and a DICOM header against the patient.

Only the outcome is kept (which fields match); the header's identifiers themselves are never stored.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from diagnosis.models import Patient

# Study warnings (codes on Study.warnings; the API returns them, pages say them as sentences).
DICOM_PATIENT_MISMATCH = "dicom_patient_mismatch"
PATIENT_DETAILS_CONFIRMED = "patient_details_differ_confirmed"
WARNING_NOTICES = {
    DICOM_PATIENT_MISMATCH: "The DICOM header names a different patient (ID, name or birth date) than the "
    "patient this study is filed under: check it is the right patient before reading.",
    PATIENT_DETAILS_CONFIRMED: "The uploader entered a name or birth date that differs from the patient on "
    "file for this MRN and confirmed filing the study under that patient.",
}


def warning_notice(code: str) -> str:
    """The reader-facing sentence for a study warning code."""
    return WARNING_NOTICES.get(code, code)


def name_tokens(name: str) -> set[str]:
    """A name as a set of lower-case words, accents dropped: "Doe^Jane" and "Jane DOE" give the same set."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return set(re.findall(r"[a-z0-9]+", plain))


def same_name(a: str, b: str) -> bool:
    """Whether two names can be the same person: one's words all appear in the other (middle names, order
    and DICOM ^ separators do not matter). Blank on either side is no evidence either way."""
    left, right = name_tokens(a), name_tokens(b)
    return not left or not right or left <= right or right <= left


def patient_differences(patient: Patient, *, name: str, birth_date: dt.date | None) -> list[str]:
    """Which entered details contradict the record on file ("name", "birth_date"); blanks never do."""
    differences = []
    if name.strip() and patient.name and not same_name(name, patient.name):
        differences.append("name")
    if birth_date is not None and patient.birth_date is not None and birth_date != patient.birth_date:
        differences.append("birth_date")
    return differences


def _dicom_date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _outcome(present: bool, matches: bool) -> str:
    return "absent" if not present else ("match" if matches else "mismatch")


def dicom_patient_check(*, data: bytes, image_format: str, patient: Patient) -> dict[str, Any] | None:
    """For a DICOM upload: does its header's PatientID / PatientName / PatientBirthDate agree with the patient
    the study is filed under? {"patient_id", "name", "birth_date": "match"|"mismatch"|"absent",
    "mismatch": bool}; None for JPEG/PNG (no header to check)."""
    if image_format != "DICOM":
        return None
    from mlcore.dicom import header_patient

    header = header_patient(data)
    header_birth = _dicom_date(header["birth_date"])
    check = {
        "patient_id": _outcome(
            bool(header["patient_id"]), header["patient_id"].casefold() == patient.mrn.strip().casefold()
        ),
        "name": _outcome(
            bool(header["name"]) and bool(patient.name), same_name(header["name"], patient.name)
        ),
        "birth_date": _outcome(
            header_birth is not None and patient.birth_date is not None, header_birth == patient.birth_date
        ),
    }
    return {**check, "mismatch": "mismatch" in check.values()}
