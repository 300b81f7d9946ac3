"""Per-study DICOM delivery state in the study JSON and page; an admin sends a failed delivery again."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from pacs.models import DicomDelivery
from tests.pacs.results import dicom_study, outbound_node, prediction_recorded

pytestmark = pytest.mark.django_db


def failed_study(alice: Any) -> tuple[Any, DicomDelivery]:
    """A DICOM study whose AI SR gave up on an unreachable PACS (its capture still pending)."""
    study, _ = dicom_study(created_by=alice)
    prediction_recorded(study)
    DicomDelivery.objects.filter(study=study, kind="sr").update(
        status="failed", attempts=40, last_error="Association with PACS@127.0.0.1:104 aborted."
    )
    return study, DicomDelivery.objects.get(study=study, kind="sr")


@pytest.fixture
def node(db: None) -> Any:
    return outbound_node(host="127.0.0.1", port=104, ae_title="PACS")


def test_study_json_lists_destination_kind_status_attempts_and_error(api, alice, node):
    study, row = failed_study(alice)
    api.force_authenticate(alice)
    body = api.get(f"/api/v1/studies/{study.id}/").json()
    assert [(d["kind"], d["status"], d["attempts"]) for d in body["deliveries"]] == [
        ("sr", "failed", 40),
        ("sc", "pending", 0),
    ]
    first = body["deliveries"][0]
    assert (first["id"], first["destination"], first["destination_address"]) == (
        row.id,
        "hospital-pacs",
        "PACS@127.0.0.1:104",
    )
    assert first["last_error"].startswith("Association") and first["sop_instance_uid"] == row.sop_instance_uid
    [listed] = api.get("/api/v1/studies/").json()["results"]
    assert listed["deliveries"] == body["deliveries"]


def test_listing_studies_costs_the_same_queries_whatever_the_page_holds(api, alice, node):
    def queries() -> int:
        api.force_authenticate(alice)
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/v1/studies/").status_code == 200
        return len(captured)

    failed_study(alice)
    queries()
    few = queries()
    for _ in range(4):
        failed_study(alice)
    assert queries() == few


def test_admin_retries_a_failed_delivery_from_the_api_audited(api, alice, admin_user, node):
    study, row = failed_study(alice)
    url = f"/api/v1/studies/{study.id}/dicom-deliveries/{row.id}/retry/"
    api.force_authenticate(admin_user)
    response = api.post(url)
    assert response.status_code == 202 and response.json()["deliveries"][0]["status"] == "pending"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 0)
    event = AuditEvent.objects.get(action="dicom.retry")
    assert event.actor == admin_user and event.before["status"] == "failed"
    assert api.post(url).status_code == 409  # only a failed delivery is retried


def test_retry_is_refused_to_every_other_role_and_scope(api, alice, bob, carol, admin_user, node):
    study, row = failed_study(alice)
    url = f"/api/v1/studies/{study.id}/dicom-deliveries/{row.id}/retry/"
    for user, code in ((alice, 403), (carol, 403), (bob, 404)):
        api.force_authenticate(user)
        assert api.post(url).status_code == code, user
    other, other_row = failed_study(alice)
    api.force_authenticate(admin_user)
    assert api.post(f"/api/v1/studies/{study.id}/dicom-deliveries/{other_row.id}/retry/").status_code == 404
    row.refresh_from_db()
    assert row.status == "failed" and not AuditEvent.objects.filter(action="dicom.retry").exists()


def test_study_page_shows_the_deliveries_and_the_admin_retry_button(client, alice, carol, admin_user, node):
    study, row = failed_study(alice)
    retry = f"/studies/{study.id}/dicom-deliveries/{row.id}/retry/"
    client.force_login(alice)
    page = client.get(f"/studies/{study.id}/").content.decode()
    assert "PACS delivery" in page and "AI report (SR) to hospital-pacs: failed (40 attempts)" in page
    assert retry not in page
    client.force_login(carol)
    assert "PACS delivery" not in client.get(f"/studies/{study.id}/").content.decode()
    assert client.post(retry).status_code == 403
    client.force_login(admin_user)
    assert retry in client.get(f"/studies/{study.id}/").content.decode()
    response = client.post(retry)
    assert response.status_code == 302 and response["Location"] == f"/studies/{study.id}/"
    row.refresh_from_db()
    assert row.status == "pending" and AuditEvent.objects.get(action="dicom.retry").actor == admin_user
