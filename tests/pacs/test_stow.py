"""DICOMweb STOW-RS: multipart/related in, PS3.18 JSON out, the same ingest as C-STORE, by role."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from audit.models import AuditEvent
from pacs.models import InboundStudy, ReceivedInstance
from pacs.services.assembly import inbound_study_release
from tests.fixtures.api import token_client
from tests.fixtures.dicoms import pydicom_read
from tests.fixtures.pacs_dicoms import fixture, with_new_uids

pytestmark = pytest.mark.django_db


def _multipart(*instances: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(
        b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n"
        for data in instances
    )
    body += b"--" + boundary.encode() + b"--\r\n"
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def _post(client: Any, *instances: bytes, path: str = "/dicomweb/studies") -> Any:
    body, content_type = _multipart(*instances)
    return client.generic("POST", path, body, content_type=content_type, HTTP_ACCEPT="application/dicom+json")


def _uids(item: dict[str, Any]) -> str:
    return item["00081155"]["Value"][0]


def test_stow_of_a_multi_instance_study_is_filed_as_the_caller(alice: Any) -> None:
    first = fixture("chest_dx_child.dcm")
    study_uid = "1.2.826.0.1.3680043.8.498.777"
    instances = [
        with_new_uids(first, study_uid=study_uid),
        with_new_uids(fixture("chest_dx_child_2.dcm"), study_uid=study_uid),
        with_new_uids(fixture("knee_dx.dcm"), study_uid=study_uid),
    ]
    response = _post(token_client(alice), *instances)
    assert response.status_code == 202, response.content  # stored, with a warning for the ignored knee
    assert response["Content-Type"] == "application/dicom+json"
    body = response.json()
    referenced = body["00081199"]["Value"]
    assert len(referenced) == 3 and "00081198" not in body
    assert [item.get("00081196", {}).get("Value") for item in referenced] == [None, None, [0xB006]]

    inbound = InboundStudy.objects.get()
    assert (inbound.sender, inbound.source, inbound.study_instance_uid) == (alice, "stow", study_uid)
    study = inbound_study_release(
        inbound_study_id=inbound.id, now=inbound.last_received_at + dt.timedelta(seconds=60)
    ).study
    study.refresh_from_db()
    assert (study.source, study.study_instance_uid, study.created_by) == ("stow", study_uid, alice)
    assert study.images.count() == 2 and study.patient.mrn == "PACS-0001"
    assert ReceivedInstance.objects.get(status="ignored").rule == "body_part"
    assert AuditEvent.objects.filter(action="dicom.receive", actor=alice).count() == 3

    # Alice finds it by its UID; Bob, in no shared scope, does not.
    found = token_client(alice).get(f"/api/v1/studies/?study_instance_uid={study_uid}").json()["results"]
    assert [row["id"] for row in found] == [str(study.id)] and found[0]["source"] == "stow"


def test_stow_to_a_study_url_fails_instances_of_another_study(alice: Any) -> None:
    mine = with_new_uids(fixture("chest_dx_child.dcm"), study_uid="1.2.3.4")
    other = with_new_uids(fixture("chest_dx_child.dcm"), study_uid="1.2.3.5")
    response = _post(token_client(alice), mine, other, path="/dicomweb/studies/1.2.3.4")
    assert response.status_code == 202
    body = response.json()
    assert [_uids(i) for i in body["00081199"]["Value"]] == [str(pydicom_read(mine).SOPInstanceUID)]
    assert body["00081198"]["Value"][0]["00081197"]["Value"] == [0xA900]
    assert ReceivedInstance.objects.count() == 1


def test_a_corrupt_instance_fails_and_nothing_is_kept(alice: Any) -> None:
    response = _post(token_client(alice), fixture("corrupt_dx.dcm"))
    assert response.status_code == 409
    assert response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    assert ReceivedInstance.objects.get().held_file == "" and not InboundStudy.objects.exists()


def test_not_multipart_related_dicom_is_415(alice: Any) -> None:
    client = token_client(alice)
    response = client.generic(
        "POST", "/dicomweb/studies", fixture("chest_dx_child.dcm"), content_type="application/dicom"
    )
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    assert not ReceivedInstance.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("anonymous", 401), ("no-role", 403), ("radiologist", 403)])
def test_only_clinicians_and_admins_may_store(role_users: dict[str, Any], role: str, status: int) -> None:
    response = _post(token_client(role_users[role]), fixture("chest_dx_child.dcm"))
    assert response.status_code == status
    assert not ReceivedInstance.objects.exists()


def test_an_admin_may_store_with_a_session(admin_user: Any) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(admin_user)
    response = _post(client, with_new_uids(fixture("chest_dx_child.dcm")))
    assert response.status_code == 200 and len(response.json()["00081199"]["Value"]) == 1
