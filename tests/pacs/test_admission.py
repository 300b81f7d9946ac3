"""Admission control reaches studies from the PACS too (#17): under overload the answer to a new instance
waits, as an upload's does, once it is stored; ignored, repeated and failed instances never wait."""

from __future__ import annotations

from typing import Any

import pytest

from diagnosis.services import admission
from pacs import scp
from pacs.models import ReceivedInstance
from pacs.services.nodes import NodeSpec, dicom_node_add
from pacs.services.receive import Sender
from tests.diagnosis.factories import StudyFactory
from tests.fixtures.api import token_client
from tests.fixtures.pacs_dicoms import fixture, with_new_uids
from tests.pacs.test_stow import _post

pytestmark = pytest.mark.django_db
STUDY_UID = "1.2.826.0.1.3680043.8.498.4242"


@pytest.fixture
def overloaded(settings: Any, alice: Any, monkeypatch: Any) -> list[float]:
    """Admission control on with 5 studies waiting and nothing finished lately (the limit is its minimum, 2:
    3 over, 60 ms); the waits asked for (the sleep itself is not the subject)."""
    settings.AIRSPACE_UPLOAD_QUEUE_SECONDS = 1.0
    monkeypatch.setattr(admission, "MIN_BACKLOG", 2)
    StudyFactory.create_batch(5, created_by=alice)
    admission._last.at = float("-inf")
    asked: list[float] = []
    monkeypatch.setattr(admission.time, "sleep", asked.append)
    return asked


class _Store:
    """What pynetdicom hands the C-STORE handler: the association and the encoded instance."""

    def __init__(self, assoc: object, data: bytes) -> None:
        self.assoc = assoc
        self._data = data

    def encoded_dataset(self, include_meta: bool = True) -> bytes:
        return self._data


def test_a_stow_answer_waits_once_per_request_and_a_resend_does_not(
    alice: Any, overloaded: list[float]
) -> None:
    instances = [
        with_new_uids(fixture("chest_dx_child.dcm"), study_uid=STUDY_UID),
        with_new_uids(fixture("chest_dx_child_2.dcm"), study_uid=STUDY_UID),
    ]
    response = _post(token_client(alice), *instances)
    assert response.status_code == 200, response.content
    assert ReceivedInstance.objects.filter(status="accepted").count() == 2  # stored before the wait
    assert overloaded == [pytest.approx(0.06)]  # one wait for the request, not one per instance
    again = _post(token_client(alice), *instances)
    assert again.status_code in (200, 202) and len(overloaded) == 1  # nothing new: no wait


def test_a_c_store_answer_waits_for_a_new_chest_instance_only(
    overloaded: list[float], monkeypatch: Any
) -> None:
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)  # the test's transaction stays open
    node = dicom_node_add(
        spec=NodeSpec(name="xray-1", ae_title="XRAY1", host="127.0.0.1", port=104, inbound=True)
    )
    receiver, assoc = scp.Receiver(), object()
    receiver._associations[id(assoc)] = scp._Association(node, Sender(user=node.service_user, node=node))
    chest = with_new_uids(fixture("chest_dx_child.dcm"), study_uid=STUDY_UID)
    assert receiver.on_store(_Store(assoc, chest)) == scp.SUCCESS
    assert ReceivedInstance.objects.get().status == "accepted" and overloaded == [pytest.approx(0.06)]
    assert receiver.on_store(_Store(assoc, chest)) == scp.SUCCESS  # a resend
    knee = with_new_uids(fixture("knee_dx.dcm"), study_uid=STUDY_UID)
    assert receiver.on_store(_Store(assoc, knee)) == scp.SUCCESS  # ignored by the body-part rule
    assert ReceivedInstance.objects.filter(status="ignored").count() == 1
    assert len(overloaded) == 1
