"""A receipt and a filing at the same moment, on real PostgreSQL connections (one thread each): no deadlock.

Every receipt and every filing appends to the audit chain, serialised by one advisory lock that each holds
until it commits. The receiver's foreign keys are checked at COMMIT (Django's constraints are DEFERRABLE
INITIALLY DEFERRED), i.e. after it took the chain lock: `FOR KEY SHARE` on the sender's account row. A filing
that locked that row `FOR UPDATE` (a `select_for_update()` joined to the sender) before it asked for the chain
lock closed the cycle, and the receiver was refused 0xA700 (tests below pause the receiver between its audit
event and its commit by holding its inbox write: the window a burst hits by chance).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction

from audit.services.events import lock_chain
from diagnosis.models import Department
from pacs.models import InboundStudy, ReceivedInstance
from pacs.services.assembly import Release, inbound_study_release
from pacs.services.nodes import NodeSpec, dicom_node_add
from pacs.services.receive import Received, Sender, _inbox_writer, instance_receive
from tests.fixtures.pacs_dicoms import fixture, with_new_uids

pytestmark = pytest.mark.usefixtures("services", "transactional_db")


def _sender() -> Sender:
    Department.objects.get_or_create(name="Paediatrics")
    node = dicom_node_add(
        spec=NodeSpec(
            name="xray1", ae_title="XRAY1", host="127.0.0.1", port=104, inbound=True, department="Paediatrics"
        )
    )
    return Sender(user=node.service_user, node=node)


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, Future[Any]]:
    """Run `work` on its own thread, hence its own database connection (closed when it is done)."""
    outcome: Future[Any] = Future()

    def run() -> None:
        try:
            outcome.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.set_exception(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _advisory_locks(*, granted: bool) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted = %s AND d.datname = current_database()",
            [granted],
        )
        return int(cursor.fetchone()[0])


def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.02)


def _past_deadlock_timeout() -> None:
    """Wait out deadlock_timeout, so the waiter that blocked first has checked (and found no cycle then):
    the receiver, blocking next, is the one whose check finds the cycle."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT setting::int FROM pg_settings WHERE name = 'deadlock_timeout'")
        milliseconds = int(cursor.fetchone()[0])
    time.sleep(milliseconds / 1000 + 0.5)


@contextmanager
def _inbox_writes_held() -> Iterator[threading.Event]:
    """Keep every inbox writer thread busy: a receipt then waits for its file with its audit event written
    and its transaction open (the chain lock held), until the event is set."""
    gate = threading.Event()
    busy = [_inbox_writer().submit(gate.wait, 30) for _ in range(_inbox_writer()._max_workers)]
    try:
        yield gate
    finally:
        gate.set()
        for future in busy:
            future.result()


def _receive_while_held(sender: Sender, data: bytes, other: Callable[[], Any]) -> tuple[Received, Any]:
    """The receipt holds the chain lock; `other` then runs until it waits for the chain lock; the receipt then
    commits (its foreign-key checks) while `other` waits."""
    with _inbox_writes_held():
        receiving, received = _in_thread(lambda: instance_receive(data=data, sender=sender))
        _until(lambda: _advisory_locks(granted=True) == 1, "the receipt holds the audit chain lock")
        working, worked = _in_thread(other)
        _until(lambda: _advisory_locks(granted=False) == 1, "the other transaction waits for the chain lock")
        _past_deadlock_timeout()
    receiving.join(60)
    working.join(60)
    return received.result(timeout=0), worked.result(timeout=0)


def test_a_receipt_and_the_filing_of_another_study_of_its_sender_do_not_deadlock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = _sender()
    first = instance_receive(data=with_new_uids(fixture("chest_dx_child.dcm")), sender=sender)
    assert first.status == ReceivedInstance.Status.ACCEPTED
    filing = InboundStudy.objects.get()
    now = filing.last_received_at + dt.timedelta(seconds=60)
    other_study = with_new_uids(fixture("chest_dx_child.dcm"))

    with caplog.at_level(logging.WARNING, logger="pacs.services.receive"):
        received, release = _receive_while_held(
            sender, other_study, lambda: inbound_study_release(inbound_study_id=filing.id, now=now)
        )

    assert received.status == ReceivedInstance.Status.ACCEPTED and not received.duplicate
    assert isinstance(release, Release) and release.study is not None
    # No deadlock at all: the receipt did not need its retry.
    assert not [r for r in caplog.records if "deadlock" in r.getMessage().lower()]
    assert InboundStudy.objects.filter(state=InboundStudy.State.COLLECTING).count() == 1
    assert ReceivedInstance.objects.filter(status=ReceivedInstance.Status.ACCEPTED).count() == 2


def test_a_receipt_chosen_as_a_deadlock_victim_is_retried_once_and_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Defence in depth: any transaction that locks the sender's row and then audits (as the filing once did)
    deadlocks with the receipt; PostgreSQL aborts the receipt, which is retried once and stored."""
    sender = _sender()
    data = with_new_uids(fixture("chest_dx_child.dcm"))

    def lock_sender_then_audit() -> None:
        with transaction.atomic():
            User.objects.select_for_update().get(id=sender.user.id)
            lock_chain()

    with caplog.at_level(logging.WARNING, logger="pacs.services.receive"):
        received, _ = _receive_while_held(sender, data, lock_sender_then_audit)

    assert received.status == ReceivedInstance.Status.ACCEPTED and not received.duplicate
    assert [r for r in caplog.records if "deadlock" in r.getMessage().lower()]
    row = ReceivedInstance.objects.get()
    assert (row.id, row.status, row.inbound_study.state) == (received.instance_id, "accepted", "collecting")
    assert row.held_file
