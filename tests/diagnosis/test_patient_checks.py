"""Issue #16: wrong-patient risks. An existing MRN with other details is never merged silently (409 unless
confirmed), and a DICOM header naming another patient is recorded on the study, file by file."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from diagnosis.models import Department, Image, Patient, StaffProfile, Study
from diagnosis.services.patient_checks import same_name
from tests.fixtures.dicoms import xray_dicom

pytestmark = pytest.mark.django_db

ON_FILE = "Amelia Onfile-Secret"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Doe^Jane", "Jane Doe", True),
        ("DOE, Jane", "jane doe", True),
        ("Doe^Jane^Marie", "Jane Doe", True),
        ("Zoë Brontë", "Zoe Bronte", True),
        ("", "Jane Doe", True),
        ("Doe^Jane", "John Smith", False),
        ("Jane Doe", "Jane Smith", False),
    ],
)
def test_names_compare_as_words(a, b, same):
    assert same_name(a, b) is same


@pytest.fixture
def on_file(api, alice) -> Patient:
    api.force_authenticate(alice)
    created = api.post("/api/v1/patients/", {"mrn": "MRN-1001", "name": ON_FILE, "birth_date": "2021-04-05"})
    assert created.status_code == 201
    return Patient.objects.get(id=created.json()["id"])


def upload(api, user, data: bytes, name: str = "x.jpg", **fields):
    api.force_authenticate(user)
    image = SimpleUploadedFile(name, data)
    return api.post("/api/v1/studies/", {"image": image, **fields})


@pytest.mark.parametrize(
    ("fields", "differing"),
    [
        ({"patient_name": "Bob Other"}, {"name"}),
        ({"patient_birth_date": "1999-01-01"}, {"birth_date"}),
        ({"patient_name": "Bob Other", "patient_birth_date": "1999-01-01"}, {"name", "birth_date"}),
    ],
)
def test_an_existing_mrn_with_other_details_is_409_and_files_nothing(
    api, alice, on_file, xray_bytes, fields, differing
):
    refused = upload(api, alice, xray_bytes, patient_mrn="MRN-1001", **fields)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "patient_conflict" and set(error["fields"]) == differing
    assert "confirm_patient" in error["message"]
    # The answer names which fields differ, never what is on file.
    assert ON_FILE not in refused.content.decode() and "2021-04-05" not in refused.content.decode()
    assert not Study.objects.exists() and not AuditEvent.objects.filter(action="study.upload").exists()


def test_confirming_files_under_the_existing_record_unchanged_with_a_warning(api, alice, on_file, xray_bytes):
    confirmed = upload(
        api, alice, xray_bytes, patient_mrn="MRN-1001", patient_name="Bob Other", confirm_patient="true"
    )
    assert confirmed.status_code == 201, confirmed.content
    body = confirmed.json()
    assert body["patient"]["id"] == str(on_file.id) and body["patient"]["name"] == ON_FILE
    assert body["warnings"] == ["patient_details_differ_confirmed"]
    on_file.refresh_from_db()
    assert on_file.name == ON_FILE and Patient.objects.filter(mrn="MRN-1001").count() == 1
    event = AuditEvent.objects.get(action="patient.mismatch_confirmed")
    assert event.object_id == str(on_file.id) and event.actor == alice
    assert event.after["differences"] == ["name"] and event.after["entered_name"] == "Bob Other"
    upload_event = AuditEvent.objects.get(action="study.upload")
    assert upload_event.after["warnings"] == ["patient_details_differ_confirmed"]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"patient_name": "ONFILE-SECRET, Amelia"},
        {"patient_name": ON_FILE, "patient_birth_date": "2021-04-05"},
    ],
)
def test_matching_or_blank_details_file_without_a_question(api, alice, on_file, xray_bytes, fields):
    response = upload(api, alice, xray_bytes, patient_mrn="MRN-1001", **fields)
    assert response.status_code == 201 and response.json()["patient"]["id"] == str(on_file.id)
    assert response.json()["warnings"] == []


def test_patients_endpoint_asks_for_the_same_confirmation(api, alice, on_file):
    api.force_authenticate(alice)
    refused = api.post("/api/v1/patients/", {"mrn": "MRN-1001", "name": "Bob Other"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "patient_conflict"
    assert ON_FILE not in refused.content.decode()
    confirmed = api.post(
        "/api/v1/patients/", {"mrn": "MRN-1001", "name": "Bob Other", "confirm_patient": True}
    )
    assert confirmed.status_code == 200 and confirmed.json()["id"] == str(on_file.id)


def test_another_departments_mrn_is_no_conflict_and_no_oracle(api, alice, bob, on_file, xray_bytes):
    """The #17 finding 1 rule holds: a record Bob may not see is never compared, so no 409 tells him it exists."""
    StaffProfile.objects.create(user=alice, department=Department.objects.create(name="Paediatrics"))
    StaffProfile.objects.create(user=bob, department=Department.objects.create(name="Cardiology"))
    Patient.objects.filter(id=on_file.id).update(department=Department.objects.get(name="Paediatrics"))
    response = upload(api, bob, xray_bytes, patient_mrn="MRN-1001", patient_name="Bob Other")
    assert response.status_code == 201 and response.json()["patient"]["id"] != str(on_file.id)
    assert response.json()["warnings"] == [] and ON_FILE not in response.content.decode()


def test_a_dicom_naming_another_patient_is_flagged_without_storing_its_identifiers(api, alice, xray_bytes):
    """The header says MRN-0042 / Doe^Jane / 2020-01-02; the study is uploaded under MRN-3001."""
    response = upload(
        api,
        alice,
        xray_dicom(),
        "doe.dcm",
        patient_mrn="MRN-3001",
        patient_name="John Smith",
        patient_birth_date="2019-07-08",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["warnings"] == ["dicom_patient_mismatch"]
    assert body["images"][0]["patient_check"] == {
        "patient_id": "mismatch",
        "name": "mismatch",
        "birth_date": "mismatch",
        "mismatch": True,
    }
    meta = str(Image.objects.get().meta)
    assert "MRN-0042" not in meta and "Doe" not in meta and "20200102" not in meta
    assert AuditEvent.objects.get(action="study.upload").after["warnings"] == ["dicom_patient_mismatch"]


def test_a_dicom_of_the_entered_patient_passes_the_check(api, alice):
    response = upload(
        api,
        alice,
        xray_dicom(),
        "doe.dcm",
        patient_mrn="MRN-0042",
        patient_name="Jane Doe",
        patient_birth_date="2020-01-02",
    )
    assert response.status_code == 201
    assert response.json()["warnings"] == []
    assert response.json()["images"][0]["patient_check"] == {
        "patient_id": "match",
        "name": "match",
        "birth_date": "match",
        "mismatch": False,
    }


def test_each_file_of_a_multi_image_upload_is_checked(api, alice, xray_bytes):
    api.force_authenticate(alice)
    response = api.post(
        "/api/v1/studies/",
        {
            "image": SimpleUploadedFile("frontal.jpg", xray_bytes),
            "images": [SimpleUploadedFile("other.dcm", xray_dicom(view="LL"))],
            "patient_mrn": "MRN-3001",
        },
    )
    assert response.status_code == 201, response.content
    frontal, other = response.json()["images"]
    assert frontal["patient_check"] is None  # a JPEG has no header to check
    assert other["patient_check"]["patient_id"] == "mismatch" and other["patient_check"]["name"] == "absent"
    assert response.json()["warnings"] == ["dicom_patient_mismatch"]
    assert Study.objects.get().warnings == ["dicom_patient_mismatch"]


def test_warning_codes_read_as_sentences() -> None:
    from diagnosis.services.patient_checks import warning_notice

    assert "different patient" in warning_notice("dicom_patient_mismatch")
    assert "confirmed" in warning_notice("patient_details_differ_confirmed")
