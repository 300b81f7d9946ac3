"""Issue #18: per-study HL7 delivery state in the study JSON and page; an admin retries a failed delivery."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from audit.models import AuditEvent
from integrations.models import Hl7Delivery
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def hl7_on(settings: Any) -> None:
    settings.AIRSPACE_HL7_HOST, settings.AIRSPACE_HL7_PORT = "127.0.0.1", 1


def delivery(study: Any, *, event: str = "preliminary", **fields: Any) -> Hl7Delivery:
    return Hl7Delivery.objects.create(
        study=study, event=event, source_id=uuid.uuid4(), control_id=uuid.uuid4().hex[:20], **fields
    )


def failed(study: Any) -> Hl7Delivery:
    return delivery(study, state="failed", attempts=8, last_error="connection refused")


def test_study_json_lists_deliveries_oldest_first(api, alice, hl7_on):
    study = completed_study(created_by=alice)
    first = failed(study)
    delivery(study, event="final", state="delivered", attempts=1)
    api.force_authenticate(alice)
    body = api.get(f"/api/v1/studies/{study.id}/").json()
    assert [(d["event"], d["status"], d["attempts"]) for d in body["ehr_deliveries"]] == [
        ("preliminary", "failed", 8),
        ("final", "delivered", 1),
    ]
    row = body["ehr_deliveries"][0]
    assert row["id"] == first.id and row["control_id"] == first.control_id
    assert row["last_error"] == "connection refused" and row["updated_at"]
    [listed] = api.get("/api/v1/studies/").json()["results"]
    assert listed["ehr_deliveries"] == body["ehr_deliveries"]


def test_empty_when_hl7_is_off(api, alice, settings):
    settings.AIRSPACE_HL7_HOST = ""
    study = completed_study(created_by=alice)
    failed(study)
    api.force_authenticate(alice)
    assert api.get(f"/api/v1/studies/{study.id}/").json()["ehr_deliveries"] == []


def test_list_query_count_does_not_grow_with_the_page(api, alice, hl7_on):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        api.force_authenticate(alice)
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/v1/studies/").status_code == 200
        return len(captured)

    for _ in range(2):
        failed(completed_study(created_by=alice))
    queries()  # warm-up
    few = queries()
    for _ in range(6):
        failed(completed_study(created_by=alice))
    assert queries() == few


def test_admin_retries_a_failed_delivery_audited_and_sent_again(
    api, alice, admin_user, hl7_on, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[int] = []
    monkeypatch.setattr("integrations.services.hl7.hl7_deliver_send", lambda i: sent.append(i))
    study = completed_study(created_by=alice)
    row = failed(study)
    url = f"/api/v1/studies/{study.id}/ehr-deliveries/{row.id}/retry/"
    api.force_authenticate(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url)
    assert response.status_code == 202
    assert response.json()["ehr_deliveries"][0]["status"] == "pending"
    row.refresh_from_db()
    assert (row.state, row.attempts, sent) == ("pending", 0, [row.id])
    event = AuditEvent.objects.get(action="hl7.retry")
    assert event.actor == admin_user and event.object_id == str(study.id)
    assert event.before["state"] == "failed" and event.after["control_id"] == row.control_id
    # Only a failed delivery: a pending one answers 409 and sends nothing more.
    assert api.post(url).status_code == 409
    assert sent == [row.id]


def test_retry_roles(api, alice, bob, carol, admin_user, hl7_on):
    study = completed_study(created_by=alice)
    row = failed(study)
    url = f"/api/v1/studies/{study.id}/ehr-deliveries/{row.id}/retry/"
    for user, code in ((alice, 403), (carol, 403), (bob, 404)):
        api.force_authenticate(user)
        assert api.post(url).status_code == code, user
    other = failed(completed_study(created_by=alice))
    api.force_authenticate(admin_user)
    assert api.post(f"/api/v1/studies/{study.id}/ehr-deliveries/{other.id}/retry/").status_code == 404
    row.refresh_from_db()
    assert row.state == "failed" and not AuditEvent.objects.filter(action="hl7.retry").exists()


def test_study_page_shows_delivery_and_admin_retry_button(
    client, alice, carol, admin_user, hl7_on, monkeypatch
):
    monkeypatch.setattr("integrations.services.hl7.hl7_deliver_send", lambda i: None)
    study = completed_study(created_by=alice)
    row = failed(study)
    retry = f"/studies/{study.id}/ehr-deliveries/{row.id}/retry/"
    client.force_login(alice)
    page = client.get(f"/studies/{study.id}/").content.decode()
    assert "EHR delivery" in page and "Preliminary: failed" in page and retry not in page
    client.force_login(carol)
    assert "EHR delivery" not in client.get(f"/studies/{study.id}/").content.decode()
    assert client.post(retry).status_code == 403
    client.force_login(admin_user)
    assert retry in client.get(f"/studies/{study.id}/").content.decode()
    response = client.post(retry)
    assert response.status_code == 302 and response["Location"] == f"/studies/{study.id}/"
    row.refresh_from_db()
    assert row.state == "pending"
    assert AuditEvent.objects.get(action="hl7.retry").actor == admin_user
