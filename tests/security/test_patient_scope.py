"""Finding 1 (#17): no path reveals or grants a patient outside the caller's scope.

A Cardiology clinician (Bob) who types the MRN of a Paediatrics patient (Alice's) gets exactly the answer a
never-seen MRN gets: a patient record of his own scope, holding what he typed. Patient records are per
scope (department, or the uploader without one), so there is nothing to refuse and nothing to leak.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from diagnosis.models import Department, Patient, StaffProfile, Study
from tests.conftest import _user
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db

SECRET_NAME = "Jane Paediatric-Secret"


@pytest.fixture
def wards(alice: Any, bob: Any) -> Patient:
    """Alice in Paediatrics with patient MRN-P1; Bob in Cardiology."""
    StaffProfile.objects.create(user=alice, department=Department.objects.create(name="Paediatrics"))
    StaffProfile.objects.create(user=bob, department=Department.objects.create(name="Cardiology"))
    created = token_client(alice).post("/api/v1/patients/", {"mrn": "MRN-P1", "name": SECRET_NAME})
    assert created.status_code == 201, created.content
    return Patient.objects.get(id=created.json()["id"])


def _shape(response: Any) -> tuple[int, list[str]]:
    return response.status_code, sorted(response.json())


def test_creating_an_out_of_scope_mrn_answers_as_for_a_new_mrn(bob: Any, wards: Patient) -> None:
    client = token_client(bob)
    fresh = client.post("/api/v1/patients/", {"mrn": "MRN-NEW", "name": "Someone"})
    taken = client.post("/api/v1/patients/", {"mrn": "MRN-P1", "name": "Typed By Bob"})
    assert (
        _shape(taken)
        == _shape(fresh)
        == (201, ["birth_date", "created_at", "department", "id", "mrn", "name", "sex"])
    )
    body = taken.json()
    assert body["name"] == "Typed By Bob" and body["id"] != str(wards.id)
    assert SECRET_NAME not in taken.content.decode()
    wards.refresh_from_db()
    assert wards.name == SECRET_NAME  # the other department's record is untouched
    # Bob sees his own record only, and the Paediatrics one stays a 404.
    listed = client.get("/api/v1/patients/?mrn=MRN-P1").json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]
    assert client.get(f"/api/v1/patients/{wards.id}/").status_code == 404


def test_an_upload_with_an_out_of_scope_mrn_never_attaches_to_that_patient(
    bob: Any, wards: Patient, xray_bytes: bytes
) -> None:
    client = token_client(bob)
    image = SimpleUploadedFile("x.jpg", xray_bytes, content_type="image/jpeg")
    response = client.post(
        "/api/v1/studies/",
        {"image": image, "patient_mrn": "MRN-P1", "patient_name": "Typed By Bob", "priority": "routine"},
    )
    assert response.status_code == 201, response.content
    assert SECRET_NAME not in response.content.decode()
    patient = response.json()["patient"]
    assert patient["name"] == "Typed By Bob" and patient["id"] != str(wards.id)
    assert not Study.objects.filter(patient=wards).exists()
    # No later read grants the Paediatrics record.
    assert client.get(f"/api/v1/patients/{wards.id}/").status_code == 404
    assert str(wards.id) not in client.get("/api/v1/patients/?page_size=200").content.decode()
    assert SECRET_NAME not in client.get("/api/v1/studies/?page_size=200").content.decode()


def test_the_upload_page_has_no_oracle_either(
    client: Any, bob: Any, wards: Patient, xray_bytes: bytes
) -> None:
    client.force_login(bob)
    image = SimpleUploadedFile("x.jpg", xray_bytes, content_type="image/jpeg")
    response = client.post(
        "/studies/new/",
        {"image": image, "patient_mrn": "MRN-P1", "patient_name": "Typed By Bob", "priority": "routine"},
    )
    assert response.status_code == 302, response.content
    page = client.get(response["Location"])
    assert page.status_code == 200 and SECRET_NAME not in page.content.decode()
    assert "Typed By Bob" in page.content.decode()
    assert not Study.objects.filter(patient=wards).exists()


def test_inside_one_scope_an_mrn_stays_one_patient(alice: Any, wards: Patient, xray_bytes: bytes) -> None:
    colleague = _user("erin", "clinician")
    StaffProfile.objects.create(user=colleague, department=wards.department)
    client = token_client(colleague)
    # A different name for a visible record is a 409 patient_conflict first (#16); confirmed, it is the same record.
    asked = client.post("/api/v1/patients/", {"mrn": "MRN-P1", "name": "Other Spelling"})
    assert asked.status_code == 409 and SECRET_NAME not in asked.content.decode()
    again = client.post(
        "/api/v1/patients/", {"mrn": "MRN-P1", "name": "Other Spelling", "confirm_patient": True}
    )
    assert again.status_code == 200 and again.json()["id"] == str(wards.id)
    assert again.json()["name"] == SECRET_NAME  # the existing record is never overwritten
    image = SimpleUploadedFile("x.jpg", xray_bytes, content_type="image/jpeg")
    upload = client.post("/api/v1/studies/", {"image": image, "patient_mrn": "MRN-P1"})
    assert upload.status_code == 201 and upload.json()["patient"]["id"] == str(wards.id)
    assert Patient.objects.filter(mrn="MRN-P1").count() == 1


def test_clinicians_without_a_department_keep_personal_records(alice: Any, bob: Any) -> None:
    first = token_client(alice).post("/api/v1/patients/", {"mrn": "MRN-X", "name": "Alice's"})
    second = token_client(bob).post("/api/v1/patients/", {"mrn": "MRN-X", "name": "Bob's"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"] and second.json()["name"] == "Bob's"
    assert token_client(bob).get(f"/api/v1/patients/{first.json()['id']}/").status_code == 404


def test_readers_see_each_scope_record_with_its_department(carol: Any, bob: Any, wards: Patient) -> None:
    token_client(bob).post("/api/v1/patients/", {"mrn": "MRN-P1", "name": "Typed By Bob"})
    listed = token_client(carol).get("/api/v1/patients/?mrn=MRN-P1").json()
    assert listed["count"] == 2
    assert {row["department"] for row in listed["results"]} == {"Paediatrics", "Cardiology"}
