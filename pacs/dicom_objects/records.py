"""What the DICOM result objects are built from: plain frozen dataclasses, filled by the Django side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

# Said on every AI object, in the SR's content tree and burned into the secondary capture.
NOT_A_DIAGNOSIS = "AI decision support — not a diagnosis"


@dataclass(frozen=True)
class StudyIdentity:
    """The original study as the PACS knows it: what a result needs to be filed into that study."""

    study_instance_uid: str
    patient_id: str
    patient_name: str = ""
    patient_birth_date: date | None = None
    patient_sex: str = ""  # M, F, O or blank
    issuer_of_patient_id: str = ""
    accession_number: str = ""
    study_id: str = ""
    study_date: date | None = None
    study_time: str = ""  # HHMMSS as received; blank when unknown
    referring_physician_name: str = ""
    study_description: str = ""


@dataclass(frozen=True)
class AnalysedImage:
    """The original instance the model analysed (its UIDs as sent by the PACS, never the de-identified ones)."""

    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str


@dataclass(frozen=True)
class AiResult:
    """One prediction, as the AI output objects report it."""

    record_id: str  # the prediction's id: with the study UID it fixes the objects' UIDs
    probability: float  # calibrated
    threshold: float  # the site's operating point
    label: str  # PNEUMONIA or NORMAL
    indeterminate: bool
    algorithm_name: str
    algorithm_version: str
    created_at: datetime
    run_number: int = 1


@dataclass(frozen=True)
class FinalRead:
    """A radiologist's signed read (a review version) of the study the AI result belongs to."""

    record_id: str  # the review version's id
    version: int  # 1 for the first read, 2+ for amendments
    decision: str  # agree or override
    final_label: str  # PNEUMONIA, NORMAL or NON_DIAGNOSTIC
    reason: str  # the override reason's text (blank on agree)
    note: str
    amendment_reason: str
    reader_name: str  # "Family^Given" or a username: the verifying observer
    signed_at: datetime
    previous_record_id: str | None = None  # the read this one amends


@dataclass(frozen=True)
class Producer:
    """Who made the objects: manufacturer, device and institution attributes."""

    manufacturer: str = "Airspace"
    device_name: str = "Airspace"
    device_uid: str = "2.25.63624540532404329312434290618153006717"
    software_version: str = ""
    institution_name: str = ""
