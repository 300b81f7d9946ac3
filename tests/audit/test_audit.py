"""The audit chain: verification, tamper detection (alter / delete / insert), anchors, append-only trigger."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services.events import audit_anchor, audit_record, audit_record_if_changed, audit_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(alice, settings, tmp_path):
    settings.AIRSPACE_AUDIT_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    events = [
        audit_record(
            actor=alice,
            action="study.view",
            object_type="study",
            object_id=i,
            after={"n": i, "nested": {"b": 1, "a": [1.5, None]}},
        )
        for i in range(5)
    ]
    audit_anchor()
    return events


def raw(sql: str, params: list) -> None:
    """Tamper as an attacker with database access would: raw SQL, with the trigger disabled on PostgreSQL."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # superuser: triggers off
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


def test_intact_chain_verifies(chain):
    report = audit_verify()
    assert report.ok, report.problems
    # Five events plus those recording the fixture user (creation, role).
    assert report.checked == AuditEvent.objects.count() >= 5
    assert report.anchors_checked == 2  # the database copy and the file copy


def test_altered_row_is_detected(chain):
    raw("UPDATE diagnosis_auditevent SET action = %s WHERE id = %s", ["study.delete", chain[2].id])
    report = audit_verify()
    assert any(f"event {chain[2].id}: contents altered" in p for p in report.problems)


def test_deleted_row_is_detected(chain):
    raw("DELETE FROM diagnosis_auditevent WHERE id = %s", [chain[2].id])
    assert any(f"event {chain[3].id}: link broken" in p for p in audit_verify().problems)


def test_inserted_row_is_detected(chain):
    forged = chain[1]
    raw(
        "INSERT INTO diagnosis_auditevent (id, created_at, actor_username, action, object_type, object_id, reason,"
        " user_agent, prev_hash, hash) VALUES (%s, %s, 'mallory', 'study.view', '', '', '', '', %s, %s)",
        [forged.id * 1000, forged.created_at, chain[-1].hash, "f" * 64],
    )
    assert not audit_verify().ok


def test_rewritten_chain_is_caught_by_the_anchor(chain):
    """An attacker who recomputes every hash still cannot forge the HMAC anchor."""
    from audit.services.events import event_digest

    events = list(AuditEvent.objects.order_by("id"))
    prev = "0" * 64
    for event in events:
        if event.id == chain[1].id:
            event.action = "rewritten"
        event.prev_hash = prev
        event.hash = event_digest(event)
        prev = event.hash
        raw(
            "UPDATE diagnosis_auditevent SET action=%s, prev_hash=%s, hash=%s WHERE id=%s",
            [event.action, event.prev_hash, event.hash, event.id],
        )
    problems = audit_verify().problems
    assert problems and all("anchor" in p for p in problems)


def test_application_cannot_update_or_delete_via_trigger(chain, services):
    assert connection.vendor == "postgresql"
    for sql in (
        "UPDATE diagnosis_auditevent SET action='x' WHERE id=%s",
        "DELETE FROM diagnosis_auditevent WHERE id=%s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [chain[0].id])
    assert AuditEvent.objects.get(id=chain[0].id).action == "study.view"


def test_row_inserted_into_an_id_gap_is_detected(chain, services):
    """A forged row slipped between genuine ones (into a sequence gap left by a rolled-back write)."""
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, action="study.view")
        raise RuntimeError("roll back: the id stays consumed on PostgreSQL")
    after = audit_record(actor=None, action="study.view")
    gap_id = after.id - 1
    forged = chain[-1]
    raw(
        "INSERT INTO diagnosis_auditevent (id, created_at, actor_username, action, object_type, object_id, reason,"
        " user_agent, prev_hash, hash) VALUES (%s, %s, 'mallory', 'study.view', '', '', '', '', %s, %s)",
        [gap_id, forged.created_at, forged.hash, "e" * 64],
    )
    problems = audit_verify().problems
    assert f"event {gap_id}: contents altered (hash mismatch)" in problems
    assert f"event {after.id}: link broken (a row before it was deleted or inserted)" in problems


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_do_not_fork_the_chain(services, settings, tmp_path):
    """Four connections append at once; the advisory lock keeps one linear chain."""
    import threading

    settings.AIRSPACE_AUDIT_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    barrier = threading.Barrier(4)

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(15):
                audit_record(actor=None, action="study.view", object_id=f"{n}-{i}")
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    report = audit_verify()
    assert report.ok, report.problems[:5]
    prev_hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert AuditEvent.objects.filter(action="study.view").count() == 60
    assert len(prev_hashes) == len(set(prev_hashes))  # no two events hang off the same predecessor


def test_an_event_sent_with_its_writes_is_appended_only_when_the_last_write_changed_a_row(
    alice, settings, tmp_path
):
    """audit_record_if_changed (#17: the writes, the chain lock and the head in one message on PostgreSQL):
    the event follows the chain exactly as audit_record's would, and a write that changed nothing appends
    nothing."""
    from django.contrib.auth import get_user_model

    settings.AIRSPACE_AUDIT_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    table = connection.ops.quote_name(get_user_model()._meta.db_table)
    rename = f"UPDATE {table} SET first_name = %s WHERE id = %s"
    first = audit_record(actor=alice, action="user.view", object_type="user", object_id=alice.pk)
    before = AuditEvent.objects.count()
    event = {"actor": alice, "action": "user.rename", "object_type": "user", "object_id": alice.pk}
    with transaction.atomic():
        renamed = audit_record_if_changed([(rename, ["Ada", -1]), (rename, ["Alice", alice.pk])], **event)
    with transaction.atomic():
        missed = audit_record_if_changed([(rename, ["Alice 2", alice.pk]), (rename, ["Nobody", -1])], **event)
    assert missed is None and renamed.prev_hash == first.hash and renamed.seq == first.seq + 1
    assert AuditEvent.objects.count() == before + 1
    alice.refresh_from_db()
    assert alice.first_name == "Alice 2"  # the writes ran; the event was not appended
    audit_anchor()
    assert audit_verify().ok
    with pytest.raises(DatabaseError), transaction.atomic():  # a failing write aborts the whole transaction
        audit_record_if_changed([(f"UPDATE {table} SET no_such_column = 1", [])], **event)
    assert AuditEvent.objects.count() == before + 1
