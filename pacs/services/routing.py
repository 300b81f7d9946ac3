"""What a received instance is: its header read once, checked for damage, and routed by the rules.

Routing decides what is analysed (docs/DICOM.md): a CR or DX image (or a secondary capture of one), of the
chest or with no body part, not a lateral view, and not of an age group the site excludes. Everything else
is acknowledged and recorded as ignored, naming the rule, so the sender does not retry forever.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID

from mlcore import InvalidImage
from mlcore.dicom import LATERAL_VIEWS, parse_age, read_dataset
from mlcore.intended_use import age_flags_from_birth_date, age_flags_from_years

CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
ANALYSED_SOP_CLASSES = frozenset({CR_IMAGE, DX_PRESENTATION, DX_PROCESSING, SECONDARY_CAPTURE})
ANALYSED_MODALITIES = frozenset({"CR", "DX"})
ANALYSED_BODY_PARTS = frozenset({"CHEST", ""})


class DamagedInstance(Exception):
    """The dataset cannot be filed: unreadable, without its UIDs, or with truncated pixel data."""

    def __init__(self, message: str, code: str = "corrupt_dicom") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class InstanceHeader:
    """The attributes routing, study assembly and filing results back need, as received."""

    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    transfer_syntax_uid: str
    modality: str
    body_part: str
    view_position: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    patient_birth_date: dt.date | None
    patient_sex: str
    patient_age_years: float | None
    accession_number: str
    dicom_study_id: str
    study_date: dt.date | None
    study_time: str
    referring_physician_name: str
    study_description: str


def _text(ds: Dataset, keyword: str, limit: int = 64) -> str:
    return str(ds.get(keyword, "") or "").strip()[:limit]


def _date(ds: Dataset, keyword: str) -> dt.date | None:
    raw = _text(ds, keyword)
    try:
        return dt.datetime.strptime(raw[:8], "%Y%m%d").date() if raw else None
    except ValueError:
        return None


def instance_header(data: bytes) -> tuple[InstanceHeader, Dataset]:
    """Parse a received instance (file format bytes); DamagedInstance when it cannot be filed at all."""
    try:
        ds = read_dataset(data)
        syntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
        header = InstanceHeader(
            sop_class_uid=_text(ds, "SOPClassUID"),
            sop_instance_uid=_text(ds, "SOPInstanceUID"),
            series_instance_uid=_text(ds, "SeriesInstanceUID"),
            study_instance_uid=_text(ds, "StudyInstanceUID"),
            transfer_syntax_uid=syntax,
            modality=_text(ds, "Modality").upper(),
            body_part=_text(ds, "BodyPartExamined").upper(),
            view_position=_text(ds, "ViewPosition").upper(),
            patient_id=_text(ds, "PatientID"),
            issuer_of_patient_id=_text(ds, "IssuerOfPatientID"),
            patient_name=_text(ds, "PatientName", 324),
            patient_birth_date=_date(ds, "PatientBirthDate"),
            patient_sex=_text(ds, "PatientSex", 16).upper(),
            patient_age_years=parse_age(_text(ds, "PatientAge")),
            accession_number=_text(ds, "AccessionNumber", 16),
            dicom_study_id=_text(ds, "StudyID", 16),
            study_date=_date(ds, "StudyDate"),
            study_time=_text(ds, "StudyTime", 16),
            referring_physician_name=_text(ds, "ReferringPhysicianName", 324),
            study_description=_text(ds, "StudyDescription"),
        )
    except InvalidImage as exc:
        raise DamagedInstance(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on a damaged stream
        raise DamagedInstance(f"The dataset cannot be read: {exc}") from exc
    if not (header.sop_class_uid and header.sop_instance_uid and header.study_instance_uid):
        raise DamagedInstance(
            "The dataset lacks its SOP Class, SOP Instance or Study Instance UID.", "missing_uid"
        )
    return header, ds


def pixel_data_check(ds: Dataset, transfer_syntax_uid: str) -> None:
    """Refuse an image whose pixel data is missing or shorter than its rows x columns say (truncated)."""
    try:
        rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        value = ds.get("PixelData")
        if value is None or not rows or not columns:
            raise DamagedInstance("The image has no pixel data or no size.", "dicom_no_pixels")
        syntax = UID(transfer_syntax_uid) if transfer_syntax_uid else None
        if syntax is not None and syntax.is_encapsulated:
            if not value.startswith(b"\xfe\xff\x00\xe0"):
                raise DamagedInstance("The compressed pixel data is not encapsulated fragments.")
            return
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 16) or 16)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        expected = rows * columns * samples * frames * bits // 8
    except DamagedInstance:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed numbers in the pixel module
        raise DamagedInstance(f"The pixel module is malformed: {exc}") from exc
    if len(value) < expected:
        raise DamagedInstance(
            f"The pixel data is truncated: {len(value)} bytes for {rows}x{columns} ({expected} expected)."
        )


@dataclass(frozen=True)
class Route:
    """Analysed (rule "") or ignored by the named rule, with a sentence for the admin page."""

    rule: str = ""
    reason: str = ""

    @property
    def analysed(self) -> bool:
        return not self.rule


def _age_flags(header: InstanceHeader) -> tuple[str, ...]:
    if header.patient_birth_date is not None:
        return age_flags_from_birth_date(header.patient_birth_date, header.study_date or dt.date.today())
    return age_flags_from_years(header.patient_age_years)


def instance_route(header: InstanceHeader, *, ignored_age_flags: Any = ()) -> Route:
    """The first rule the instance fails, in the order docs/DICOM.md lists them, or analysed."""
    if header.sop_class_uid not in ANALYSED_SOP_CLASSES:
        return Route(
            "sop_class", f"SOP class {header.sop_class_uid} is not a CR, DX or secondary capture image."
        )
    if header.modality not in ANALYSED_MODALITIES:
        return Route("modality", f"Modality {header.modality or '(none)'} is not CR or DX.")
    if header.body_part not in ANALYSED_BODY_PARTS:
        return Route("body_part", f"Body part {header.body_part} is not CHEST.")
    if header.view_position in LATERAL_VIEWS:
        return Route("lateral_view", f"View position {header.view_position} is a lateral view.")
    excluded = [flag for flag in _age_flags(header) if flag in set(ignored_age_flags)]
    if excluded:
        return Route(excluded[0], f"Patient age excluded by the site ({excluded[0]}).")
    return Route()
