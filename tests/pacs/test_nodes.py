"""DICOM nodes: `manage.py dicom_node add|list|remove`, audited; an inbound node's service account."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from diagnosis.models import Department
from pacs.models import DicomNode
from portal.roles import roles_of
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("dicom_node", *args, stdout=out)
    return out.getvalue()


def test_add_inbound_node_creates_its_service_account_in_the_department() -> None:
    Department.objects.create(name="Paediatrics")
    out = _run(
        "add", "xray-1", "--ae-title", "XRAY1", "--host", "127.0.0.1", "--port", "104",
        "--inbound", "--department", "Paediatrics",
    )  # fmt: skip
    node = DicomNode.objects.get(name="xray-1")
    assert "Added xray-1" in out
    assert (node.ae_title, node.host, node.port, node.inbound, node.outbound) == (
        "XRAY1",
        "127.0.0.1",
        104,
        True,
        False,
    )
    user = node.service_user
    assert user.username == "dicom-node-xray-1"
    assert not user.has_usable_password()
    assert roles_of(user) == {"clinician"}
    assert user.profile.department.name == "Paediatrics"
    event = AuditEvent.objects.get(action="dicom_node.add")
    assert event.after["ae_title"] == "XRAY1" and event.after["department"] == "Paediatrics"
    assert event.actor_username == "system"


def test_outbound_only_node_has_no_service_account_and_list_shows_both() -> None:
    _run("add", "pacs", "--ae-title", "ORTHANC", "--host", "pacs.local", "--port", "4242", "--outbound",
         "--dicomweb-url", "http://pacs.local:8042/dicom-web")  # fmt: skip
    _run("add", "ct", "--ae-title", "CT1", "--host", "10.0.0.5", "--port", "104", "--inbound")
    assert DicomNode.objects.get(name="pacs").service_user is None
    lines = _run("list").splitlines()
    assert lines[0].startswith("ct\tCT1\t10.0.0.5:104\tin\t-")
    assert lines[1].startswith(
        "pacs\tORTHANC\tpacs.local:4242\tout\t-\thttp://pacs.local:8042/dicom-web\tactive"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ae-title", "X", "--host", "h", "--port", "104"], "inbound, outbound or both"),
        (["--ae-title", "BAD\\AE", "--host", "h", "--port", "104", "--inbound"], "ae_title"),
        (["--ae-title", "X" * 17, "--host", "h", "--port", "104", "--inbound"], "ae_title"),
        (["--ae-title", "X", "--host", "h", "--port", "70000", "--inbound"], "port"),
        (
            ["--ae-title", "X", "--host", "h", "--port", "104", "--inbound", "--department", "Nowhere"],
            "Nowhere",
        ),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _run("add", "n1", *args)
    assert not DicomNode.objects.exists()
    assert not AuditEvent.objects.filter(action="dicom_node.add").exists()


def test_duplicate_name_refused() -> None:
    _run("add", "n1", "--ae-title", "A", "--host", "h", "--port", "104", "--outbound")
    with pytest.raises(CommandError, match="exists already"):
        _run("add", "n1", "--ae-title", "B", "--host", "h", "--port", "104", "--outbound")
    assert DicomNode.objects.get().ae_title == "A"


def test_remove_deletes_an_unused_node_and_its_account(admin_user: Any) -> None:
    _run("add", "n1", "--ae-title", "A", "--host", "h", "--port", "104", "--inbound")
    out = io.StringIO()
    call_command("dicom_node", "--user", admin_user.username, "remove", "n1", stdout=out)
    assert "Removed n1" in out.getvalue()
    assert not DicomNode.objects.exists()
    from django.contrib.auth.models import User

    assert not User.objects.filter(username="dicom-node-n1").exists()
    event = AuditEvent.objects.get(action="dicom_node.remove")
    assert event.actor_id == admin_user.id and event.before["name"] == "n1" and event.after is None


def test_remove_deactivates_a_node_whose_account_filed_studies() -> None:
    _run("add", "n1", "--ae-title", "A", "--host", "h", "--port", "104", "--inbound")
    node = DicomNode.objects.get()
    completed_study(created_by=node.service_user)
    assert "Deactivated" in _run("remove", "n1")
    node.refresh_from_db()
    node.service_user.refresh_from_db()
    assert not node.active and not node.service_user.is_active
    assert AuditEvent.objects.get(action="dicom_node.remove").after["active"] is False


def test_remove_unknown_node_refused() -> None:
    with pytest.raises(CommandError, match="No node named"):
        _run("remove", "ghost")


def test_an_admin_adds_a_node_on_the_admin_page_through_the_audited_service(admin_user: Any) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    User.objects.filter(id=admin_user.id).update(is_superuser=True)
    Department.objects.create(name="Paediatrics")
    client = Client()
    client.force_login(admin_user)
    form = {"name": "xray-9", "ae_title": "XRAY9", "host": "10.0.0.9", "port": "104", "inbound": "on",
            "department": str(Department.objects.get().id), "dicomweb_url": ""}  # fmt: skip
    response = client.post("/django-admin/pacs/dicomnode/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    node = DicomNode.objects.get(name="xray-9")
    assert (
        node.service_user.username == "dicom-node-xray-9"
        and node.service_user.profile.department.name == "Paediatrics"
    )
    event = AuditEvent.objects.get(action="dicom_node.add")
    assert event.actor == admin_user and event.after["ae_title"] == "XRAY9"
    # Neither direction: refused with a clear message, nothing written.
    refused = client.post("/django-admin/pacs/dicomnode/add/", {**form, "name": "xray-10", "inbound": ""})
    assert refused.status_code == 200 and "inbound, outbound or both" in refused.content.decode()
    assert not DicomNode.objects.filter(name="xray-10").exists()


def test_an_inbound_node_is_found_by_its_address_or_a_host_name_resolving_to_it() -> None:
    from pacs.selectors import inbound_node_for

    _run("add", "by-ip", "--ae-title", "XRAY1", "--host", "127.0.0.1", "--port", "104", "--inbound")
    _run("add", "by-name", "--ae-title", "XRAY2", "--host", "localhost", "--port", "104", "--inbound")
    _run("add", "sender-only", "--ae-title", "PACS", "--host", "127.0.0.1", "--port", "104", "--outbound")
    assert inbound_node_for(ae_title="XRAY1", host="127.0.0.1").name == "by-ip"
    assert inbound_node_for(ae_title="XRAY2", host="127.0.0.1").name == "by-name"
    assert inbound_node_for(ae_title="XRAY1", host="10.1.2.3") is None
    assert inbound_node_for(ae_title="PACS", host="127.0.0.1") is None  # outbound only
    assert inbound_node_for(ae_title="NOBODY", host="127.0.0.1") is None
