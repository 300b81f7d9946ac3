"""Anchors: HMAC signatures over the audit chain head, appended to a file outside the database.

Every transaction that records audit events appends one signed line for its last event right after it
commits (`anchor_stream_on_commit`), so a tail deleted or rewritten later no longer matches a signature:
the undetectable window is the moment between COMMIT and the append (a process killed there leaves the
event to the beat anchor, every AIRSPACE_AUDIT_ANCHOR_SECONDS, 10 s by default).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


def anchor_signature(event_id: int, head_hash: str) -> str:
    """HMAC-SHA256 of "id:hash" with AIRSPACE_AUDIT_HMAC_KEY (a key that never enters the database)."""
    key = settings.AIRSPACE_AUDIT_HMAC_KEY
    if not key:
        # An empty key would make every anchor forgeable: refuse rather than sign meaninglessly.
        raise ImproperlyConfigured("AIRSPACE_AUDIT_HMAC_KEY is not set: audit anchors cannot be signed.")
    return hmac.new(key.encode(), f"{event_id}:{head_hash}".encode(), hashlib.sha256).hexdigest()


def anchor_line_append(line: dict[str, Any]) -> None:
    """Append one JSON line to the anchor file (one write of a short line: atomic with O_APPEND)."""
    path = settings.AIRSPACE_AUDIT_ANCHOR_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")


def _stream(event: Any) -> None:
    """After COMMIT: sign this event if it is still the last one its transaction recorded."""
    if getattr(connection, "_airspace_audit_last", None) is not event:
        return  # a later event of the same transaction will be signed instead
    connection._airspace_audit_last = None
    try:
        signature = anchor_signature(event.id, event.hash)
        line = {"event_id": event.id, "seq": event.seq, "head_hash": event.hash, "signature": signature}
        anchor_line_append({**line, "signed_at": timezone.now().isoformat(), "kind": "commit"})
    except (ImproperlyConfigured, OSError) as exc:  # the commit stands; the beat anchor covers the event
        logger.warning("Audit event %s committed but not streamed to the anchor file: %s", event.id, exc)


def anchor_stream_on_commit(event: Any) -> None:
    """Arrange for the transaction's last audit event to be signed into the anchor file once it commits."""
    connection._airspace_audit_last = event
    transaction.on_commit(lambda: _stream(event))
