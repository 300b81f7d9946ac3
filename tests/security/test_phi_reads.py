"""Finding 2 (#17): every read that returns PHI leaves an audit event; a list read is one event naming
the records it returned, and a status poll costs one insert. Reads that return nothing write nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from tests.diagnosis.factories import completed_study
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db


def events(user: Any, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(actor=user, action=action).order_by("id"))


def test_polling_a_study_is_audited_with_one_insert(alice: Any) -> None:
    study = completed_study(created_by=alice)
    client = token_client(alice)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/studies/{study.id}/?poll=1")
    assert response.status_code == 200 and response.json()["patient"]["name"]
    [event] = events(alice, "study.poll")
    assert event.object_id == str(study.id) and event.object_type == "study"
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1
    # An unchanged study answers 304 with no body: no PHI, no event.
    not_modified = client.get(f"/api/v1/studies/{study.id}/?poll=1", HTTP_IF_NONE_MATCH=response["ETag"])
    assert not_modified.status_code == 304 and len(events(alice, "study.poll")) == 1


def test_api_lists_are_one_event_naming_the_records_returned(alice: Any, carol: Any) -> None:
    studies = [completed_study(created_by=alice) for _ in range(3)]
    body = token_client(alice).get("/api/v1/studies/?page_size=200").json()
    [listed] = events(alice, "study.list")
    assert (
        sorted(listed.after["ids"])
        == sorted(str(s.id) for s in studies)
        == sorted(r["id"] for r in body["results"])
    )
    patients = token_client(alice).get("/api/v1/patients/").json()
    [listed] = events(alice, "patient.list")
    assert sorted(listed.after["ids"]) == sorted(r["id"] for r in patients["results"]) and listed.after["ids"]
    worklist = token_client(carol).get("/api/v1/worklist/").json()
    [listed] = events(carol, "worklist.view")
    assert (
        sorted(listed.after["ids"]) == sorted(r["id"] for r in worklist["results"])
        and len(worklist["results"]) == 3
    )


def test_the_studies_and_worklist_pages_are_audited(client: Any, alice: Any, carol: Any) -> None:
    study = completed_study(created_by=alice)
    client.force_login(alice)
    assert client.get("/studies/").status_code == 200
    assert events(alice, "study.list")[0].after["ids"] == [str(study.id)]
    assert client.get(f"/studies/{study.id}/panels/").status_code == 200
    assert [e.object_id for e in events(alice, "study.poll")] == [str(study.id)]
    client.force_login(carol)
    assert client.get("/worklist/").status_code == 200
    assert events(carol, "worklist.view")[0].after["ids"] == [str(study.id)]


def test_an_existing_patient_answered_by_create_is_a_read(alice: Any) -> None:
    client = token_client(alice)
    created = client.post("/api/v1/patients/", {"mrn": "MRN-R1", "name": "Ada"}).json()
    again = client.post("/api/v1/patients/", {"mrn": "MRN-R1", "name": "Ada"})
    assert again.status_code == 200
    assert [e.object_id for e in events(alice, "patient.view")] == [created["id"]]


def test_empty_reads_write_nothing(bob: Any, alice: Any) -> None:
    completed_study(created_by=alice)
    client = token_client(bob)
    assert client.get("/api/v1/studies/").json()["count"] == 0
    assert client.get("/api/v1/patients/").json()["count"] == 0
    assert not AuditEvent.objects.filter(actor=bob).exists()
