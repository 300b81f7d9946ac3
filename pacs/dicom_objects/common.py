"""What every Airspace result object shares: the original study's identity, fixed timestamps, the bytes."""

from __future__ import annotations

import io
from datetime import datetime

from pydicom.dataset import Dataset

from pacs.dicom_objects.records import AnalysedImage, StudyIdentity

# The person names, the algorithm name and the disclaimer's dash need more than ASCII.
CHARACTER_SET = "ISO_IR 192"


def _da(value: object) -> str:
    return value.strftime("%Y%m%d") if value is not None else ""  # type: ignore[attr-defined]


def evidence_dataset(study: StudyIdentity, image: AnalysedImage) -> Dataset:
    """A stand-in for the analysed instance: the patient, study and UIDs an SR copies and references."""
    ds = Dataset()
    ds.SpecificCharacterSet = CHARACTER_SET
    ds.PatientID = study.patient_id
    ds.PatientName = study.patient_name
    ds.PatientBirthDate = _da(study.patient_birth_date)
    ds.PatientSex = study.patient_sex
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyID = study.study_id
    ds.StudyDate = _da(study.study_date)
    ds.StudyTime = study.study_time
    ds.AccessionNumber = study.accession_number
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.SeriesInstanceUID = image.series_instance_uid
    ds.SOPClassUID = image.sop_class_uid
    ds.SOPInstanceUID = image.sop_instance_uid
    return ds


def study_attributes_apply(ds: Dataset, study: StudyIdentity) -> None:
    """Type 2/3 study attributes the constructors leave out, kept so the PACS files the object under its study."""
    if study.issuer_of_patient_id:
        ds.IssuerOfPatientID = study.issuer_of_patient_id
    if study.study_description:
        ds.StudyDescription = study.study_description


def timestamps_apply(ds: Dataset, when: datetime, *, series_description: str) -> None:
    """Content and creation times from the record, not the clock, so a rebuilt object is byte-identical."""
    day, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S.%f")
    ds.SpecificCharacterSet = CHARACTER_SET
    ds.InstanceCreationDate, ds.InstanceCreationTime = day, time
    ds.ContentDate, ds.ContentTime = day, time
    ds.SeriesDate, ds.SeriesTime = day, time
    ds.SeriesDescription = series_description
    for equipment in ds.get("ContributingEquipmentSequence", []):
        equipment.ContributionDateTime = when.strftime("%Y%m%d%H%M%S.%f")


def dataset_bytes(ds: Dataset) -> bytes:
    """The object as a Part 10 file (preamble, file meta), as it is stored and sent."""
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
