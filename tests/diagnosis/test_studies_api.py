"""Study list filters, patient endpoints, cancel and the page envelope, through /api/v1/."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from diagnosis.models import Label, Patient, Study
from reading.models import Review
from tests.diagnosis.factories import PredictionFactory, StudyFactory, completed_study
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db


def _ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def studies(alice: Any, carol: Any) -> dict[str, Study]:
    """Five of Alice's studies that differ in one filterable property each."""
    normal = completed_study(created_by=alice, probability=0.1)
    pneumonia = completed_study(created_by=alice, probability=0.95, priority=Study.Priority.URGENT)
    queued = StudyFactory(created_by=alice)
    old = completed_study(created_by=alice, probability=0.2)
    Study.objects.filter(id=old.id).update(created_at=timezone.now() - dt.timedelta(days=30))
    reviewed = completed_study(created_by=alice, probability=0.8)
    Review.objects.create(
        study=reviewed,
        prediction=reviewed.predictions.get(),
        reviewer=carol,
        decision=Review.Decision.AGREE,
        final_label=Label.PNEUMONIA,
    )
    return {"normal": normal, "pneumonia": pneumonia, "queued": queued, "old": old, "reviewed": reviewed}


def _expect(studies: dict[str, Study], *names: str) -> set[str]:
    return {str(studies[n].id) for n in names}


def test_study_list_filters(alice: Any, studies: dict[str, Study]) -> None:
    client = token_client(alice)
    today = timezone.now().date()
    assert _ids(client.get("/api/v1/studies/?status=queued")) == _expect(studies, "queued")
    assert _ids(client.get("/api/v1/studies/?priority=urgent")) == _expect(studies, "pneumonia")
    assert _ids(client.get("/api/v1/studies/?ai_label=PNEUMONIA")) == _expect(
        studies, "pneumonia", "reviewed"
    )
    assert _ids(client.get("/api/v1/studies/?reviewed=true")) == _expect(studies, "reviewed")
    assert _ids(client.get("/api/v1/studies/?reviewed=false")) == _expect(
        studies, "normal", "pneumonia", "queued", "old"
    )
    assert _ids(client.get(f"/api/v1/studies/?date_to={today - dt.timedelta(days=1)}")) == _expect(
        studies, "old"
    )
    assert "old" not in _ids(client.get(f"/api/v1/studies/?date_from={today}"))
    mrn = studies["normal"].patient.mrn
    assert _ids(client.get(f"/api/v1/studies/?patient_mrn={mrn}")) == _expect(studies, "normal")
    combined = f"/api/v1/studies/?status=completed&ai_label=NORMAL&date_from={today}"
    assert _ids(client.get(combined)) == _expect(studies, "normal")


def test_ai_label_filter_follows_the_current_prediction(alice: Any) -> None:
    study = completed_study(created_by=alice, probability=0.9)
    PredictionFactory(study=study, probability=0.1, label=Label.NORMAL, run_number=2)
    client = token_client(alice)
    assert _ids(client.get("/api/v1/studies/?ai_label=NORMAL")) == {str(study.id)}
    assert _ids(client.get("/api/v1/studies/?ai_label=PNEUMONIA")) == set()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("priority=asap", "priority"),
        ("ai_label=maybe", "ai_label"),
        ("reviewed=perhaps", "reviewed"),
        ("date_from=yesterday", "date_from"),
        ("date_to=2026-13-01", "date_to"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(alice: Any, query: str, field: str) -> None:
    response = token_client(alice).get(f"/api/v1/studies/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["fields"].keys() == {field}


def test_every_list_is_paginated(alice: Any, carol: Any, admin_user: Any, studies: dict[str, Study]) -> None:
    for user, url in [
        (alice, "/api/v1/studies/"),
        (alice, "/api/v1/patients/"),
        (carol, "/api/v1/worklist/"),
        (admin_user, "/api/v1/audit/"),
    ]:
        body = token_client(user).get(url + "?page_size=2").json()
        assert {"count", "next", "previous", "results"} <= body.keys(), url
        assert len(body["results"]) <= 2 and body["count"] >= len(body["results"]), url


def test_times_are_iso_8601(alice: Any, studies: dict[str, Study]) -> None:
    body = token_client(alice).get(f"/api/v1/studies/{studies['normal'].id}/").json()
    created = dt.datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None and abs(created - studies["normal"].created_at) < dt.timedelta(
        seconds=1
    )
    assert dt.datetime.fromisoformat(body["prediction"]["created_at"]).tzinfo is not None


def test_patient_create_search_and_read(alice: Any, carol: Any) -> None:
    client = token_client(alice)
    created = client.post("/api/v1/patients/", {"mrn": "PAT-42", "name": "Ada Lovelace", "sex": "F"})
    assert created.status_code == 201, created.content
    body = created.json()
    patient = Patient.objects.get(id=body["id"])
    assert patient.mrn == "PAT-42" and patient.created_by == alice and body["sex"] == "F"
    assert AuditEvent.objects.filter(action="patient.create", object_id=str(patient.id), actor=alice).exists()
    assert client.get("/api/v1/patients/?mrn=PAT-42").json()["results"][0]["id"] == body["id"]
    assert client.get("/api/v1/patients/?q=lovel").json()["count"] == 1
    assert client.get("/api/v1/patients/?mrn=PAT-4").json()["count"] == 0
    assert client.get(f"/api/v1/patients/{patient.id}/").json()["name"] == "Ada Lovelace"
    refused = token_client(carol).post("/api/v1/patients/", {"mrn": "PAT-43"})
    assert refused.status_code == 403 and not Patient.objects.filter(mrn="PAT-43").exists()


def test_patient_create_bad_input_is_400(alice: Any) -> None:
    response = token_client(alice).post("/api/v1/patients/", {"mrn": "", "sex": "Z"})
    assert response.status_code == 400
    assert {"mrn", "sex"} <= response.json()["error"]["fields"].keys()
    assert not Patient.objects.exists()


def test_cancel_a_queued_study_then_refuse_a_second_cancel(alice: Any, bob: Any) -> None:
    study = StudyFactory(created_by=alice)
    response = token_client(alice).post(f"/api/v1/studies/{study.id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    study.refresh_from_db()
    assert study.status == Study.Status.CANCELLED and "alice" in study.status_reason
    assert AuditEvent.objects.filter(action="study.cancel", object_id=str(study.id)).count() == 1
    again = token_client(alice).post(f"/api/v1/studies/{study.id}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"
    assert AuditEvent.objects.filter(action="study.cancel", object_id=str(study.id)).count() == 1


def test_rerun_is_refused_until_the_queued_run_finishes(alice: Any, admin_user: Any) -> None:
    study = completed_study(created_by=alice)
    admin = token_client(admin_user)
    first = admin.post(f"/api/v1/studies/{study.id}/rerun/")
    assert first.status_code == 202 and first.json()["status"] == "queued"
    refused = admin.post(f"/api/v1/studies/{study.id}/rerun/")  # no worker here: still queued
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_rerunnable"
    study.refresh_from_db()
    assert study.status == Study.Status.QUEUED and study.rerun_requested_by == admin_user


def test_creating_an_existing_mrn_in_another_scope_makes_a_record_of_your_own(alice: Any, bob: Any) -> None:
    # Patient records are per scope (#17 finding 1): Bob's answer says nothing about Alice's record.
    assert token_client(alice).post("/api/v1/patients/", {"mrn": "PAT-9", "name": "Ada"}).status_code == 201
    response = token_client(bob).post("/api/v1/patients/", {"mrn": "PAT-9", "name": "Someone Else"})
    assert response.status_code == 201 and response.json()["name"] == "Someone Else"
    assert Patient.objects.get(mrn="PAT-9", created_by=alice).name == "Ada"
    assert token_client(bob).get("/api/v1/patients/?mrn=PAT-9").json()["count"] == 1
