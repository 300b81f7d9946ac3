"""The append-only, hash-chained audit trail and its HMAC anchors.

Each event's hash covers its own fields and the previous event's hash, so an altered, deleted or inserted
row breaks the chain. An admin with database access could rebuild the whole chain; anchors (HMAC of the
head with a key that never enters the database, also appended to a file outside it) stop that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.middleware import current_request
from audit.models import AuditAnchor, AuditEvent
from audit.services.anchors import anchor_line_append, anchor_signature, anchor_stream_on_commit
from portal.frozen_queries import insert_row, statements_cursor

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_ID = 0x41495253  # "AIRS": serialises chain appends on PostgreSQL


@dataclass(frozen=True)
class AuditContext:
    """Where a request came from: recorded with every event it causes."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest | None) -> AuditContext:
        """Take the client address and user agent from a request (None gives an empty context)."""
        if request is None:
            return cls()
        from portal.addresses import client_ip

        return cls(ip=client_ip(request) or None, user_agent=request.headers.get("user-agent", "")[:512])


SYSTEM = AuditContext()


def ctx(request: Any = None) -> AuditContext:
    """The audit context of a page or API request (by default the one this thread is handling)."""
    return AuditContext.from_request(request if request is not None else current_request())


def jsonable(value: Any) -> Any:
    """Round-trip through JSON so that what is hashed is exactly what the database returns."""
    return None if value is None else json.loads(json.dumps(value, default=str, sort_keys=True))


def event_digest(event: AuditEvent) -> str:
    """The sha256 that chains this event to its predecessor."""
    payload = {
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "prev_hash": event.prev_hash,
    }
    if event.seq is not None:  # events recorded before seq existed keep their original digest
        payload["seq"] = event.seq
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def lock_chain() -> None:
    """Serialise appends; SQLite's IMMEDIATE transactions already do."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])


# Two statements sent as one (client-side binding, the simple query protocol): one round trip instead of
# two and no ORM query to compile, per audit event (bench/load.py). Under READ COMMITTED each statement
# takes its own snapshot, so the head is read after the lock is held and sees every committed append.
_LOCKED_HEAD_SQL = (
    f"SELECT pg_advisory_xact_lock({_CHAIN_LOCK_ID}); "
    f"SELECT hash, seq FROM {AuditEvent._meta.db_table} ORDER BY id DESC LIMIT 1"
)


def chain_head_locked() -> tuple[str, int | None] | None:
    """Take the chain lock, then read the head's (hash, seq); None on an empty chain."""
    if connection.vendor != "postgresql":
        lock_chain()
        return AuditEvent.objects.order_by("-id").values_list("hash", "seq").first()
    with connection.cursor() as cursor:
        cursor.execute(_LOCKED_HEAD_SQL)
        cursor.nextset()  # past the lock's result to the head's
        return cursor.fetchone()


class EventFields(TypedDict, total=False):
    """What an event records besides its place in the chain (_append's arguments)."""

    actor: Required[Any]
    action: Required[str]
    object_type: str
    object_id: object
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    context: AuditContext


@transaction.atomic(savepoint=False)  # inside a caller's transaction: no savepoint round trips
def audit_record(**event: Unpack[EventFields]) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction."""
    return _append(chain_head_locked(), **event)


@transaction.atomic(savepoint=False)
def audit_record_if_changed(
    writes: Sequence[tuple[str, Sequence[Any]]], **event: Unpack[EventFields]
) -> AuditEvent | None:
    """Run the caller's writes (INSERTs or UPDATEs as (sql, params), in order) and append `event`
    (audit_record's arguments) only if the last one changed a row; None, nothing appended, if it changed
    none. Inside the caller's transaction: a failing write aborts it.

    On PostgreSQL the writes, the chain lock and the head's read go as one message (#17: one round trip
    where they took one each and one more), so the lock is taken even when no row changed, until the
    transaction ends.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            for sql, params in writes:
                cursor.execute(sql, params)
            changed = cursor.rowcount
        return audit_record(**event) if changed else None
    statements = "; ".join([*(sql for sql, _ in writes), _LOCKED_HEAD_SQL])
    with statements_cursor() as cursor:
        cursor.execute(statements, [value for _, params in writes for value in params])
        for _ in writes[1:]:
            cursor.nextset()
        changed = cursor.rowcount
        cursor.nextset()  # the lock's result
        cursor.nextset()  # the head's
        head = cursor.fetchone()
    return _append(head, **event) if changed else None


def _append(
    head: tuple[str, int | None] | None,
    *,
    actor: Any,
    action: str,
    object_type: str = "",
    object_id: object = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    context: AuditContext = SYSTEM,
) -> AuditEvent:
    """The event after `head` (the locked chain's last (hash, seq), None when empty), inserted."""
    prev_hash, prev_seq = head or (GENESIS_HASH, 0)
    if prev_seq is None:  # the first event after the legacy rows: number them by position
        prev_seq = AuditEvent.objects.count()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        created_at=timezone.now(),
        actor=actor if is_user else None,
        actor_username=(actor.get_username() if is_user else str(actor or "system"))[:150],
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=jsonable(before),
        after=jsonable(after),
        reason=reason,
        ip=context.ip,
        user_agent=context.user_agent,
        prev_hash=prev_hash,
        # Assigned under the chain lock from the previous event, so a rolled-back write leaves no gap here
        # (unlike the id sequence, which burns a value on every rollback): a gap in seq is a missing event.
        seq=prev_seq + 1,
    )
    event.hash = event_digest(event)
    insert_row(event)
    anchor_stream_on_commit(event)
    return event


def audit_read(
    *, actor: Any, action: str, object_type: str, ids: Sequence[object], context: AuditContext, **after: Any
) -> AuditEvent | None:
    """One event for a read that returned PHI: a list read names every record it returned (#17 finding 2).

    A read that returned no record writes nothing (it disclosed nothing).
    """
    if not ids:
        return None
    return audit_record(
        actor=actor,
        action=action,
        object_type=object_type,
        after={"ids": [str(i) for i in ids], "count": len(ids), **after},
        context=context,
    )


def audit_page_read(*, request: Any, page: Any, action: str, object_type: str) -> AuditEvent | None:
    """A page of a list shows PHI: one event naming the records on it (#17 finding 2)."""
    return audit_rows_read(
        request=request,
        rows=page.object_list,
        action=action,
        object_type=object_type,
        query=request.GET.dict(),
    )


def audit_rows_read(
    *, request: Any, rows: Sequence[Any], action: str, object_type: str, **after: Any
) -> AuditEvent | None:
    """Records shown on a page (a list, a patient's studies): one event naming them, by the request's user."""
    ids = [row.id for row in rows]
    return audit_read(
        actor=request.user, action=action, object_type=object_type, ids=ids, context=ctx(request), **after
    )


def audit_view(*, request: Any, action: str, object_type: str, object_id: Any, **after: Any) -> AuditEvent:
    """One record opened by the request's user (a page or API read of PHI)."""
    return audit_record(
        actor=request.user,
        action=action,
        object_type=object_type,
        object_id=object_id,
        after=after or None,
        context=ctx(request),
    )


@transaction.atomic
def audit_anchor() -> AuditAnchor | None:
    """Sign the chain head and append the anchor to the file outside the database (once per head)."""
    head = AuditEvent.objects.order_by("-id").first()
    if head is None:
        return None
    latest = AuditAnchor.objects.order_by("-id").first()
    if latest is not None and latest.event_id == head.id:
        return latest  # nothing new since the last anchor
    anchor = AuditAnchor.objects.create(
        event=head, head_hash=head.hash, signature=anchor_signature(head.id, head.hash)
    )
    line = {"event_id": head.id, "seq": head.seq, "head_hash": head.hash, "signature": anchor.signature}
    anchor_line_append({**line, "signed_at": anchor.created_at.isoformat()})
    return anchor


@dataclass
class VerifyReport:
    """What audit_verify found: ok only when the chain and every anchor check out."""

    checked: int = 0
    anchors_checked: int = 0
    head_id: int | None = None
    last_anchored_id: int | None = None
    anchored: int = 0  # events up to the newest verified anchor
    missing: int = 0  # events absent from the numbered chain (gaps in seq)
    sequenced: bool = False  # a numbered event has been seen
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unanchored(self) -> int:
        """Events after the newest verified anchor (protected by the chain, not yet by a signature)."""
        return self.checked - self.anchored


def _verify_chain(report: VerifyReport) -> dict[int, str]:
    """Recompute every hash and link, and check seq runs 1, 2, 3...; return id -> hash for the anchors."""
    hashes: dict[int, str] = {}
    prev_hash = GENESIS_HASH
    for position, event in enumerate(AuditEvent.objects.order_by("id").iterator(chunk_size=2000), start=1):
        report.checked += 1
        if event.prev_hash != prev_hash:
            report.problems.append(f"event {event.id}: link broken (a row before it was deleted or inserted)")
        if event_digest(event) != event.hash:
            report.problems.append(f"event {event.id}: contents altered (hash mismatch)")
        _check_sequence(event, position, report)
        hashes[event.id] = event.hash
        prev_hash = event.hash
        report.head_id = event.id
    return hashes


def _check_sequence(event: AuditEvent, position: int, report: VerifyReport) -> None:
    """Ids may skip (a rolled-back insert burns one); seq may not: it is the event's place in the chain.

    Legacy events (recorded before seq existed) have none and may only come first.
    """
    if event.seq is None:
        if report.sequenced:
            report.problems.append(f"event {event.id}: no sequence number after numbered events")
        return
    report.sequenced = True
    expected = position + report.missing
    if event.seq > expected:
        report.problems.append(
            f"event {event.id}: gap, {event.seq - expected} event(s) missing before it "
            f"(seq {expected} to {event.seq - 1})"
        )
        report.missing += event.seq - expected
    elif event.seq < expected:
        report.problems.append(f"event {event.id}: sequence number {event.seq} repeated or out of order")


def _file_anchors(path: Path, report: VerifyReport) -> list[dict[str, Any]]:
    """Anchors from a file outside the database; an unreadable line is itself a problem."""
    if not path.exists():
        return []
    anchors = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            anchor = json.loads(line)
            anchors.append({"event_id": int(anchor["event_id"]), **anchor, "source": f"{path.name}:{number}"})
        except (ValueError, KeyError, TypeError):
            report.problems.append(f"anchor file {path} line {number}: unreadable")
    return anchors


def _check_anchor(anchor: dict[str, Any], hashes: dict[int, str], report: VerifyReport) -> None:
    event_id, head_hash = anchor["event_id"], str(anchor.get("head_hash", ""))
    where = f"anchor at event {event_id} ({anchor['source']})"
    report.anchors_checked += 1
    if not hmac.compare_digest(anchor_signature(event_id, head_hash), str(anchor.get("signature", ""))):
        report.problems.append(f"{where}: signature invalid (forged anchor)")
    elif hashes.get(event_id) != head_hash:
        report.problems.append(f"{where}: chain no longer matches the signed head")
    elif report.last_anchored_id is None or event_id > report.last_anchored_id:
        report.last_anchored_id = event_id


def audit_verify(*, anchor_files: Sequence[Path] = ()) -> VerifyReport:
    """Check the whole chain, then every anchor (database, the anchor file, extra copies) with the key."""
    report = VerifyReport()
    hashes = _verify_chain(report)
    anchors = [
        {"event_id": a.event_id, "head_hash": a.head_hash, "signature": a.signature, "source": "database"}
        for a in AuditAnchor.objects.order_by("id")
    ]
    for path in (settings.AIRSPACE_AUDIT_ANCHOR_FILE, *anchor_files):
        anchors += _file_anchors(Path(path), report)
    for anchor in anchors:
        _check_anchor(anchor, hashes, report)
    if report.last_anchored_id is not None:
        report.anchored = sum(1 for event_id in hashes if event_id <= report.last_anchored_id)
    return report
