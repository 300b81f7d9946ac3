"""Finding 6 (#17): the audit trail cannot be cut or rewritten with the portal's database rights, and what
the owner can still do is detected: TRUNCATE blocked, tails anchored at commit, gaps in the sequence found."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from audit.models import AuditEvent
from audit.services.db_roles import db_roles_apply
from audit.services.events import audit_record, audit_verify, event_digest
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def anchors(settings, tmp_path):
    settings.AIRSPACE_AUDIT_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    return settings.AIRSPACE_AUDIT_ANCHOR_FILE


@pytest.fixture
def chain(services, alice, anchors):
    """Five events, each committed on its own (as five requests would), so each is streamed at commit.

    The triggers, roles and tampering these tests need exist on PostgreSQL only."""
    return [
        audit_record(actor=alice, action="study.view", object_type="study", object_id=i) for i in range(5)
    ]


@pytest.fixture
def app_role(services):
    """The portal's role, made by db_roles in this test database; dropped again afterwards."""
    name = f"{connection.settings_dict['NAME']}_app"[:63]
    db_roles_apply(app_role=name)
    db_roles_apply(app_role=name)  # idempotent: a second run changes nothing and does not fail
    yield name
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)).as_string(connection.connection)
        )
        cursor.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)).as_string(connection.connection))


def connect_as(role: str) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=role, dbname=db["NAME"], autocommit=True
    )


def as_owner(statement: str, params: list | None = None) -> None:
    """Tamper as the owner/superuser would: with the row triggers off for this session."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(statement, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


ATTACKS = [
    "TRUNCATE diagnosis_auditevent CASCADE",
    "TRUNCATE diagnosis_auditanchor",
    "DELETE FROM diagnosis_auditevent WHERE id = {id}",
    "UPDATE diagnosis_auditevent SET action = 'rewritten' WHERE id = {id}",
    "DELETE FROM diagnosis_auditanchor",
    "UPDATE diagnosis_auditanchor SET signature = 'forged'",
    "ALTER TABLE diagnosis_auditevent DISABLE TRIGGER airspace_audit_append_only",
    "ALTER TABLE diagnosis_auditevent DISABLE TRIGGER ALL",
    "DROP TRIGGER airspace_audit_append_only ON diagnosis_auditevent",
    "ALTER TABLE diagnosis_auditevent OWNER TO CURRENT_USER",
    "SET session_replication_role = replica",
    "SELECT setval('diagnosis_auditevent_id_seq', 1)",
    "CREATE TABLE airspace_attacker (id int)",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_app_role_cannot_cut_rewrite_or_unprotect_the_trail(chain, app_role, attack):
    with connect_as(app_role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(attack.format(id=chain[2].id))
    assert AuditEvent.objects.filter(id=chain[2].id, action="study.view").exists()
    assert audit_verify().ok


def test_the_app_role_can_run_the_portal(chain, app_role, anchors, tmp_path):
    """INSERT and SELECT on the audit tables, everything else the portal does elsewhere, and a backup."""
    with connect_as(app_role) as conn:
        assert conn.execute("SELECT count(*) FROM diagnosis_auditevent").fetchone()[0] >= 5
        conn.execute("UPDATE diagnosis_study SET priority = priority WHERE false")
        conn.execute("DELETE FROM django_session WHERE false")
        privileges = conn.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = current_user AND table_name = 'diagnosis_auditevent' ORDER BY 1"
        ).fetchall()
    assert [p for (p,) in privileges] == ["INSERT", "SELECT"]
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": f"postgres://{app_role}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "AIRSPACE_VAR_DIR": str(tmp_path / "var"),
    }
    for command in (["audit_anchor"], ["audit_verify"], ["backup", "--out", str(tmp_path / "backup")]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])


def test_the_owner_cannot_truncate_either(chain):
    for table in ("diagnosis_auditevent CASCADE", "diagnosis_auditanchor"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as c,
        ):
            c.execute(f"TRUNCATE {table}")
    assert AuditEvent.objects.count() >= 5 and audit_verify().ok


def test_each_commit_signs_its_last_event_at_once(alice, anchors):
    with transaction.atomic():
        for i in range(3):
            last = audit_record(actor=alice, action="study.view", object_id=i)
        assert not anchors.exists()  # nothing is signed before COMMIT
    lines = [json.loads(line) for line in anchors.read_text().splitlines()]
    assert [(line["event_id"], line["seq"], line["head_hash"]) for line in lines] == [
        (last.id, last.seq, last.hash)
    ]
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=alice, action="study.view")
        raise RuntimeError("rolled back: nothing to sign")
    assert len(anchors.read_text().splitlines()) == 1


def test_tail_deleted_right_after_commit_is_detected_without_a_beat_anchor(chain):
    """Before: events after the last beat anchor (up to 5 min) could be cut with audit_verify still OK."""
    as_owner("DELETE FROM diagnosis_auditevent WHERE id >= %s", [chain[3].id])
    problems = audit_verify().problems
    assert any(f"anchor at event {chain[4].id}" in p and "no longer matches" in p for p in problems), problems


def test_tail_rewritten_and_rechained_is_detected(chain):
    last = AuditEvent.objects.get(id=chain[-1].id)
    last.action = "study.nothing_to_see"
    last.hash = event_digest(last)
    as_owner(
        "UPDATE diagnosis_auditevent SET action=%s, hash=%s WHERE id=%s", [last.action, last.hash, last.id]
    )
    problems = audit_verify().problems
    assert problems and all("anchor" in p for p in problems), problems


def test_a_gap_is_detected_even_when_the_chain_is_relinked_and_no_anchor_remains(chain, anchors):
    as_owner("DELETE FROM diagnosis_auditevent WHERE id = %s", [chain[2].id])
    prev = chain[1].hash
    for event in AuditEvent.objects.filter(id__gt=chain[2].id).order_by("id"):
        event.prev_hash = prev
        event.hash = prev = event_digest(event)
        as_owner(
            "UPDATE diagnosis_auditevent SET prev_hash=%s, hash=%s WHERE id=%s",
            [event.prev_hash, event.hash, event.id],
        )
    as_owner("DELETE FROM diagnosis_auditanchor")
    anchors.unlink(missing_ok=True)  # the worst case: no anchor survives
    problems = audit_verify().problems
    assert problems == [
        f"event {chain[3].id}: gap, 1 event(s) missing before it (seq {chain[2].seq} to {chain[2].seq})"
    ]


def test_a_rolled_back_write_leaves_an_id_gap_but_no_false_alarm(chain, alice):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=alice, action="study.view")
        raise RuntimeError("roll back: PostgreSQL keeps the id consumed")
    after = audit_record(actor=alice, action="study.view")
    assert after.id > chain[-1].id + 1 and after.seq == chain[-1].seq + 1
    assert audit_verify().ok
