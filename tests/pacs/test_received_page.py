"""The admin page of received instances: ignored ones with their rule, by status, admins only, audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from pacs.services.nodes import NodeSpec, dicom_node_add
from pacs.services.receive import Sender, instance_receive
from tests.fixtures.pacs_dicoms import fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def received() -> None:
    node = dicom_node_add(
        spec=NodeSpec(name="xray-1", ae_title="XRAY1", host="127.0.0.1", port=104, inbound=True)
    )
    sender = Sender(user=node.service_user, node=node)
    for name in ("knee_dx.dcm", "ct_chest.dcm", "chest_dx_child.dcm", "corrupt_dx.dcm"):
        instance_receive(data=fixture(name), sender=sender)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_sees_ignored_instances_with_their_rule(received: None, admin_user: Any) -> None:
    page = _client(admin_user).get("/dicom/received/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="received-ignored"') == 2
    assert "<code>body_part</code>" in html and "<code>sop_class</code>" in html and "KNEE" in html
    assert "received-accepted" not in html and "received-failed" not in html
    assert "<code>XRAY1</code>" in html and "127.0.0.1:104" in html  # the nodes table
    event = AuditEvent.objects.get(action="dicom.received_view")
    assert event.actor == admin_user and len(event.after["ids"]) == 2


def test_status_filter_shows_failed_and_all(received: None, admin_user: Any) -> None:
    client = _client(admin_user)
    failed = client.get("/dicom/received/?status=failed").content.decode()
    assert failed.count('class="received-failed"') == 1 and "truncated" in failed
    assert client.get("/dicom/received/?status=all").content.decode().count('class="received-') == 4
    assert client.get("/dicom/received/?status=bogus").content.decode().count('class="received-ignored"') == 2


@pytest.mark.parametrize("who", ["alice", "carol", "nobody"])
def test_other_roles_are_refused(received: None, who: str, request: pytest.FixtureRequest) -> None:
    response = _client(request.getfixturevalue(who)).get("/dicom/received/")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="dicom.received_view").exists()


def test_anonymous_is_sent_to_login(received: None) -> None:
    response = Client().get("/dicom/received/")
    assert response.status_code == 302 and "/login/" in response["Location"]
