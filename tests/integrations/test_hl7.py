"""Issue #18 item 3: ORU^R01 over MLLP to a real listener on loopback that parses each message and ACKs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from integrations.models import Hl7Delivery
from integrations.services.hl7 import hl7_deliver, hl7_delivery_schedule, hl7_retry_delay, hl7_sweep_lost
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study
from tests.integrations.mllp_listener import MllpListener, free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def listener(settings: Any) -> Iterator[MllpListener]:
    server = MllpListener()
    settings.AIRSPACE_HL7_HOST, settings.AIRSPACE_HL7_PORT = "127.0.0.1", server.port
    settings.AIRSPACE_HL7_TIMEOUT = 5
    try:
        yield server
    finally:
        server.close()


def obr(message: Any) -> Any:
    return message.ORU_R01_PATIENT_RESULT.ORU_R01_ORDER_OBSERVATION.OBR


def observations(message: Any) -> list[Any]:
    return [
        group.OBX for group in message.ORU_R01_PATIENT_RESULT.ORU_R01_ORDER_OBSERVATION.ORU_R01_OBSERVATION
    ]


def deliver_all(captured: list[Any]) -> None:
    """Send every delivery whose task the commit would have enqueued (the task body, without a broker)."""
    for callback in captured:
        callback()


def test_preliminary_final_and_corrected_reach_the_listener_each_acked(
    listener, alice, carol, dave, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[int] = []
    monkeypatch.setattr("integrations.services.hl7.hl7_deliver_send", lambda i: sent.append(i))
    study = completed_study(created_by=alice, probability=0.83)
    study.accession_number = "ACC|7"
    study.save()
    prediction = study.predictions.get()
    with django_capture_on_commit_callbacks(execute=True):
        hl7_delivery_schedule(study=study, event="preliminary", source_id=prediction.id)
        review_submit(user=carol, study=study, decision="agree")
    with django_capture_on_commit_callbacks(execute=True):
        review_submit(
            user=dave,
            study=study,
            decision="override",
            final_label="NORMAL",
            reason="false_alarm",
            amendment_reason="second look",
        )
    deliveries = list(Hl7Delivery.objects.order_by("id"))
    assert [d.event for d in deliveries] == ["preliminary", "final", "corrected"]
    assert sent == [d.id for d in deliveries]  # one task per delivery, sent after commit
    for delivery_id in sent:
        assert hl7_deliver(delivery_id=delivery_id).state == "delivered"

    prelim, final, corrected = listener.received
    assert [obr(m).obr_25.value for m in listener.received] == ["P", "F", "C"]
    assert {obr(m).obr_3.value for m in listener.received} == {"ACC\\F\\7"}  # same accession, escaped
    assert [m.msh.msh_10.value for m in listener.received] == [d.control_id for d in deliveries]
    assert prelim.msh.msh_9.value == "ORU^R01^ORU_R01" and prelim.msh.msh_12.value == "2.5"
    assert prelim.ORU_R01_PATIENT_RESULT.ORU_R01_PATIENT.PID.pid_3.value.startswith(study.patient.mrn + "^")
    [ai] = observations(prelim)
    assert (ai.obx_2.value, ai.obx_5.value, ai.obx_8.value, ai.obx_11.value) == ("NM", "0.8300", "POS", "P")
    assert ai.obx_3.value.startswith("233604007^")
    assert "AI decision support - not a diagnosis" in listener.raw[0]
    ai, read = observations(final)
    assert read.obx_5.value == "10828004^Positive^SCT" and read.obx_11.value == "F"
    assert read.obx_16.value.startswith("carol")
    ai, read = observations(corrected)
    assert read.obx_5.value == "260385009^Negative^SCT" and read.obx_11.value == "C"
    assert "Amended: second look" in listener.raw[2]
    assert set(Hl7Delivery.objects.values_list("state", "attempts")) == {("delivered", 1)}
    actions = list(AuditEvent.objects.filter(action__startswith="hl7.").values_list("action", flat=True))
    assert sorted(actions) == ["hl7.delivered"] * 3 + ["hl7.queue"] * 3


def test_a_listener_down_then_up_gets_the_message_once(alice, settings):
    port = free_port()
    settings.AIRSPACE_HL7_HOST, settings.AIRSPACE_HL7_PORT, settings.AIRSPACE_HL7_TIMEOUT = (
        "127.0.0.1",
        port,
        2,
    )
    settings.AIRSPACE_HL7_RETRY_SECONDS = 0  # each next attempt is due at once (no countdown to wait out)
    study = completed_study(created_by=alice, probability=0.2)
    delivery = hl7_delivery_schedule(study=study, event="preliminary", source_id=study.predictions.get().id)
    down = hl7_deliver(delivery_id=delivery.id)
    assert (down.state, down.attempts) == ("pending", 1) and down.retry
    delivery.refresh_from_db()
    assert delivery.state == "pending" and "ConnectionRefused" in delivery.last_error
    server = MllpListener(port=port)
    try:
        up = hl7_deliver(delivery_id=delivery.id)
        again = hl7_deliver(delivery_id=delivery.id)  # a duplicate task finds it delivered
    finally:
        server.close()
    assert (up.state, up.attempts, again.state) == ("delivered", 2, "skipped")
    assert len(server.received) == 1 and obr(server.received[0]).obr_25.value == "P"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 2, "")
    assert delivery.delivered_at is not None
    assert AuditEvent.objects.filter(action="hl7.attempt_failed", object_id=str(study.id)).count() == 1


def test_a_refusing_receiver_is_retried_then_the_delivery_fails(alice, settings):
    server = MllpListener(answer="AE")
    settings.AIRSPACE_HL7_HOST, settings.AIRSPACE_HL7_PORT = "127.0.0.1", server.port
    settings.AIRSPACE_HL7_MAX_ATTEMPTS = 2
    settings.AIRSPACE_HL7_RETRY_SECONDS = 0  # the second attempt is due at once
    study = completed_study(created_by=alice)
    try:
        delivery = hl7_delivery_schedule(
            study=study, event="preliminary", source_id=study.predictions.get().id
        )
        first, second = hl7_deliver(delivery_id=delivery.id), hl7_deliver(delivery_id=delivery.id)
    finally:
        server.close()
    assert (first.state, second.state) == ("pending", "failed")
    assert len(server.received) == 2
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 2 and delivery.last_error.startswith("ACK AE")
    assert AuditEvent.objects.filter(action="hl7.failed", object_id=str(study.id)).count() == 1


def test_off_unless_configured_and_backoff_doubles(alice, carol, settings):
    settings.AIRSPACE_HL7_HOST = ""
    study = completed_study(created_by=alice)
    review_submit(user=carol, study=study, decision="agree")
    assert not Hl7Delivery.objects.exists()
    settings.AIRSPACE_HL7_RETRY_SECONDS, settings.AIRSPACE_HL7_RETRY_MAX_SECONDS = 5, 60
    assert [hl7_retry_delay(n) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]


def test_the_sweep_resends_a_delivery_whose_task_was_lost_once(listener, alice, settings, monkeypatch):
    """A pending delivery whose task never ran (lost on the broker) is sent by the sweep, once."""
    sent: list[int] = []
    monkeypatch.setattr("integrations.services.hl7.hl7_deliver_send", lambda i: sent.append(i))
    settings.AIRSPACE_HL7_SWEEP_GRACE_SECONDS = 120
    lost, fresh, busy = (completed_study(created_by=alice) for _ in range(3))
    schedule = [
        hl7_delivery_schedule(study=s, event="preliminary", source_id=s.predictions.get().id)
        for s in (lost, fresh, busy)
    ]
    sent.clear()  # the on_commit sends never ran: the tasks are "lost" (no broker in this test)
    now = timezone.now()
    Hl7Delivery.objects.filter(id=schedule[0].id).update(next_attempt_at=now - timedelta(minutes=10))
    Hl7Delivery.objects.filter(id=schedule[2].id).update(
        next_attempt_at=now - timedelta(minutes=10), claimed_at=now - timedelta(seconds=5)
    )

    assert hl7_sweep_lost(now=now) == [schedule[0].id]  # not the one still due, not the one being sent
    assert hl7_sweep_lost(now=now) == []  # due now, not overdue: a down broker is not flooded
    assert sent == [schedule[0].id]
    assert hl7_deliver(delivery_id=sent[0]).state == "delivered"
    assert len(listener.received) == 1
    # An hour on: the other two are overdue too (the claim belongs to a dead sender by then); the
    # delivered one is never looked at again.
    assert hl7_sweep_lost(now=now + timedelta(hours=1)) == [schedule[1].id, schedule[2].id]

    settings.AIRSPACE_HL7_HOST = ""
    assert hl7_sweep_lost(now=now + timedelta(hours=2)) == []  # HL7 off: nothing is looked at


def test_a_retry_message_delivered_twice_does_not_fork_a_second_chain(alice, settings):
    """Redis hands an unacknowledged countdown message out again after its visibility timeout: the copy
    that runs before the attempt is due is dropped, the one that runs on time sends."""
    port = free_port()
    settings.AIRSPACE_HL7_HOST, settings.AIRSPACE_HL7_PORT, settings.AIRSPACE_HL7_TIMEOUT = (
        "127.0.0.1",
        port,
        2,
    )
    settings.AIRSPACE_HL7_RETRY_SECONDS = 300
    study = completed_study(created_by=alice)
    delivery = hl7_delivery_schedule(study=study, event="preliminary", source_id=study.predictions.get().id)
    assert hl7_deliver(delivery_id=delivery.id).state == "pending"  # nobody listening: due in 300 s
    early = hl7_deliver(delivery_id=delivery.id)  # the redelivered copy, long before it is due
    assert (early.state, Hl7Delivery.objects.get(id=delivery.id).attempts) == ("skipped", 1)
    Hl7Delivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now())  # its countdown ends
    server = MllpListener(port=port)
    try:
        on_time = hl7_deliver(delivery_id=delivery.id)
    finally:
        server.close()
    assert (on_time.state, on_time.attempts, len(server.received)) == ("delivered", 2, 1)
