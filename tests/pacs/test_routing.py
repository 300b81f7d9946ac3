"""Routing and receipt limits, on the receive service itself (the network is covered by test_receive.py)."""

from __future__ import annotations

from typing import Any

import pytest

from pacs.models import InboundStudy, ReceivedInstance
from pacs.services.nodes import NodeSpec, dicom_node_add
from pacs.services.receive import Sender, instance_receive
from pacs.services.routing import instance_header, instance_route
from tests.fixtures.pacs_dicoms import fixture, with_new_uids


@pytest.fixture
def sender(db: None) -> Sender:
    node = dicom_node_add(
        spec=NodeSpec(name="xray-1", ae_title="XRAY1", host="127.0.0.1", port=104, inbound=True)
    )
    return Sender(user=node.service_user, node=node)


@pytest.mark.parametrize(
    ("name", "attributes", "rule"),
    [
        ("chest_dx_child.dcm", {}, ""),
        ("chest_cr_adult.dcm", {}, ""),  # analysed, with the adult notice, unless the site excludes adults
        ("chest_dx_child.dcm", {"BodyPartExamined": ""}, ""),
        ("chest_dx_child.dcm", {"Modality": "MG"}, "modality"),
        ("chest_dx_child.dcm", {"ViewPosition": "RL"}, "lateral_view"),
        ("knee_dx.dcm", {}, "body_part"),
        ("ct_chest.dcm", {}, "sop_class"),
    ],
)
def test_rules(name: str, attributes: dict[str, str], rule: str) -> None:
    header, _ = instance_header(with_new_uids(fixture(name), **attributes))
    assert instance_route(header).rule == rule


def test_a_site_may_ignore_adults(sender: Sender, settings: Any) -> None:
    settings.AIRSPACE_DICOM_IGNORED_AGE_FLAGS = ("adult_patient",)
    adult = instance_receive(data=fixture("chest_cr_adult.dcm"), sender=sender)
    child = instance_receive(data=fixture("chest_dx_child.dcm"), sender=sender)
    assert (adult.status, adult.rule) == ("ignored", "adult_patient")
    assert (child.status, child.rule) == ("accepted", "")
    assert InboundStudy.objects.count() == 1


def test_an_instance_over_the_upload_limit_fails_and_keeps_nothing(sender: Sender, settings: Any) -> None:
    settings.AIRSPACE_MAX_UPLOAD_BYTES = 50_000
    received = instance_receive(data=fixture("chest_dx_child.dcm"), sender=sender)
    assert (received.status, received.too_large) == ("failed", True) and "upload limit" in received.reason
    row = ReceivedInstance.objects.get()
    assert row.held_file == "" and not InboundStudy.objects.exists()


def test_damaged_bytes_fail_with_a_reason(sender: Sender) -> None:
    received = instance_receive(data=b"DICM" + b"\x00" * 300, sender=sender)
    assert received.status == "failed" and received.reason
    assert ReceivedInstance.objects.get().status == "failed"


def test_the_sweep_files_a_study_whose_task_was_lost_and_drops_orphan_inbox_files(
    sender: Sender, settings: Any
) -> None:
    import datetime as dt
    import os
    from pathlib import Path

    from django.utils import timezone

    from pacs.services.inbox import inbox_read, inbox_write
    from pacs.tasks import inbound_study_sweep_task

    received = instance_receive(data=fixture("chest_dx_child.dcm"), sender=sender)
    held = ReceivedInstance.objects.get(id=received.instance_id).held_file
    assert inbox_read(held) == fixture("chest_dx_child.dcm")
    orphan = inbox_write(b"a receipt that never committed")
    old = (timezone.now() - dt.timedelta(hours=2)).timestamp()
    for name in (held, orphan):
        os.utime(Path(settings.MEDIA_ROOT) / name, (old, old))
    InboundStudy.objects.update(last_received_at=timezone.now() - dt.timedelta(minutes=5))

    assert inbound_study_sweep_task() == 1
    inbound = InboundStudy.objects.get()
    assert inbound.state == "released" and inbound.study.source == "dicom"
    assert not (Path(settings.MEDIA_ROOT) / orphan).exists()


def test_an_inbox_write_that_fails_leaves_no_row_and_the_error_reaches_the_sender(
    sender: Sender, settings: Any
) -> None:
    from pathlib import Path

    blocked = Path(settings.MEDIA_ROOT) / "dicom-inbox"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_bytes(b"not a folder")  # the inbox cannot be created: every write fails
    with pytest.raises(OSError):
        instance_receive(data=fixture("chest_dx_child.dcm"), sender=sender)  # the SCP answers 0xA700
    assert not ReceivedInstance.objects.exists() and not InboundStudy.objects.exists()
