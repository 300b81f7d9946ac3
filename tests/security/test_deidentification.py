"""DICOM de-identification on ingest: the stored copy keeps no identifying tag, records the method, maps back."""

from __future__ import annotations

import io

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from diagnosis.models import Image
from diagnosis.services.images import identifier_digest
from modelops.services.dataset_export import deidentified_image
from tests.fixtures.dicoms import HOSTILE_SECRETS, hostile_dicom, xray_dicom

pytestmark = pytest.mark.django_db
IDENTIFYING = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "InstitutionName",
    "ReferringPhysicianName",
    "AccessionNumber",
    "StudyDate",
    "StudyTime",
)


def upload_dicom(api, user, data: bytes, mrn: str = "MRN-0042"):
    api.force_authenticate(user)
    payload = {
        "image": SimpleUploadedFile("scan.dcm", data, content_type="application/dicom"),
        "patient_mrn": mrn,
    }
    return api.post("/api/v1/studies/", payload, format="multipart")


def test_stored_copy_has_no_identifiers_and_records_the_profile(api, alice):
    original = xray_dicom()
    source = pydicom.dcmread(io.BytesIO(original))
    response = upload_dicom(api, alice, original)
    assert response.status_code == 201, response.content[:300]
    image = Image.objects.get(study_id=response.json()["id"])
    stored_bytes = image.file.open("rb").read()
    stored = pydicom.dcmread(io.BytesIO(stored_bytes))
    assert image.deidentified and image.format == "DICOM" and image.size_bytes == len(stored_bytes)
    for keyword in IDENTIFYING:
        assert not str(stored.get(keyword, "") or ""), keyword
    assert not any(elem.tag.is_private for elem in stored)
    for secret in (b"Doe^Jane", b"MRN-0042", b"Guangzhou", b"House^Greg", b"ACC123", b"private secret"):
        assert secret not in stored_bytes
    # UIDs are replaced, so the stored copy cannot be joined back to the source PACS by UID.
    assert (
        stored.StudyInstanceUID != source.StudyInstanceUID and stored.SOPInstanceUID != source.SOPInstanceUID
    )
    # (0012,0062) and (0012,0064): identity removed by the PS3.15 basic profile (DCM 113100).
    assert stored.PatientIdentityRemoved == "YES"
    method = stored[0x0012, 0x0064].value[0]
    assert (method.CodeValue, method.CodingSchemeDesignator) == ("113100", "DCM")
    # Pixels survive de-identification unchanged.
    assert (stored.pixel_array == source.pixel_array).all()


def test_mapping_to_the_portal_patient_is_kept_as_keyed_hashes(api, alice):
    original = xray_dicom()
    source = pydicom.dcmread(io.BytesIO(original))
    response = upload_dicom(api, alice, original, mrn="MRN-0042")
    image = Image.objects.select_related("study__patient").get(study_id=response.json()["id"])
    record = image.meta["deidentification"]
    assert image.study.patient.mrn == "MRN-0042" and record["patient_id_matches_mrn"] is True
    hashes = record["original_hmac_sha256"]
    assert hashes["PatientID"] == identifier_digest("MRN-0042")
    assert hashes["StudyInstanceUID"] == identifier_digest(str(source.StudyInstanceUID))
    assert hashes["AccessionNumber"] == identifier_digest("ACC123")
    # No original identifier in clear text in the row, the API answer or the audit trail.
    audit = str(list(AuditEvent.objects.values_list("before", "after", "reason")))
    for text in ("Doe^Jane", str(source.StudyInstanceUID), "ACC123", "20200102"):
        assert text not in str(image.meta) and text not in response.content.decode() and text not in audit


def test_mismatched_patient_id_is_recorded(api, alice):
    response = upload_dicom(api, alice, xray_dicom(), mrn="MRN-9999")
    image = Image.objects.get(study_id=response.json()["id"])
    assert image.meta["deidentification"]["patient_id_matches_mrn"] is False


def test_site_can_turn_it_off(api, alice, settings):
    settings.AIRSPACE_DEIDENTIFY_DICOM = False
    original = xray_dicom()
    response = upload_dicom(api, alice, original)
    image = Image.objects.get(study_id=response.json()["id"])
    assert not image.deidentified and "deidentification" not in image.meta
    assert image.file.open("rb").read() == original


def _same_study_second_image(data: bytes) -> bytes:
    """Another instance (new SOP Instance UID, other pixels) of the same study and series."""
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.PixelData = bytes(reversed(ds.PixelData))
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _assert_clean(data: bytes) -> pydicom.Dataset:
    """Nothing the pen test found (issue #17 finding 3) is left anywhere in the file."""
    leaked = [secret for secret in HOSTILE_SECRETS if secret in data]
    assert not leaked, f"leaks {leaked}"
    assert data[:128] == b"\x00" * 128, "preamble not zeroed"
    ds = pydicom.dcmread(io.BytesIO(data))
    assert not [str(e.tag) for e in ds.iterall() if e.tag.is_private], "private tags left"
    for keyword in ("StudyDescription", "SeriesDescription", "PatientBirthName", "IssuerOfPatientID"):
        assert keyword not in ds, keyword
    for keyword in ("MedicalAlerts", "PerformedProcedureStepDescription", "ProtocolName"):
        assert keyword not in ds, keyword
    nested = ds.ViewCodeSequence[0].ViewModifierCodeSequence[0]
    assert not str(nested.get("PatientName", "")) and not nested.get("PatientID", "")
    return ds


def test_hostile_upload_is_fully_deidentified_and_uids_stay_grouped(api, alice):
    """Pen test finding 3: a download marked PatientIdentityRemoved still carried PHI."""
    first = hostile_dicom()
    second = _same_study_second_image(first)
    stored = []
    for data in (first, second):
        response = upload_dicom(api, alice, data)
        assert response.status_code == 201, response.content[:300]
        stored.append(Image.objects.get(study_id=response.json()["id"]).file.open("rb").read())
    a, b = (_assert_clean(data) for data in stored)
    assert a.PatientIdentityRemoved == "YES"
    source = pydicom.dcmread(io.BytesIO(first))
    # Consistent remapping: the two images still share study and series, with UIDs that are not the source's.
    assert a.StudyInstanceUID == b.StudyInstanceUID != source.StudyInstanceUID
    assert a.SeriesInstanceUID == b.SeriesInstanceUID != source.SeriesInstanceUID
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert (a.pixel_array == source.pixel_array).all()


def test_export_reviewed_ships_deidentified_files_even_from_original_storage():
    """export_reviewed de-identifies again (a site may store originals): same profile, per-export UIDs."""
    first, _suffix = deidentified_image(hostile_dicom(), "DICOM", uid_salt=b"export-1")
    second, _suffix = deidentified_image(hostile_dicom(), "DICOM", uid_salt=b"export-2")
    one, two = _assert_clean(first), _assert_clean(second)
    assert one.StudyInstanceUID != two.StudyInstanceUID  # two exports cannot be joined by UID
