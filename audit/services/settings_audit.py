"""Audit of operator settings: a changed policy or model switch is recorded as `settings.changed`.

Settings come from the environment, so they change on a restart rather than through a page. Each anchor
run (Celery beat, every 5 minutes, and `manage.py audit_anchor`) compares the running configuration with
the last recorded snapshot and records the difference before signing the chain head.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from audit.models import AuditEvent
from audit.services.events import audit_record, jsonable, lock_chain
from mlcore.config import CURRENT_POINTER

# Settings that change clinical behaviour, data handling or security; never secrets (keys are omitted).
AUDITED_SETTINGS = (
    "AIRSPACE_MODEL_BUNDLE",
    "AIRSPACE_ESCALATE_AFTER_MINUTES",
    "AIRSPACE_CLAIM_MINUTES",
    "AIRSPACE_REVIEW_REASONS",
    "AIRSPACE_DEIDENTIFY_DICOM",
    "AIRSPACE_MAX_UPLOAD_BYTES",
    "AIRSPACE_MAX_PIXELS",
    "AIRSPACE_MIN_SIDE",
    "AIRSPACE_STUCK_AFTER_SECONDS",
    "AXES_FAILURE_LIMIT",
    "SESSION_COOKIE_AGE",
    # Access controls added for #17: who is believed about client addresses, token and session lifetimes.
    "AIRSPACE_TRUSTED_PROXIES",
    "AIRSPACE_TOKEN_TTL_HOURS",
    "AIRSPACE_SESSION_IDLE_MINUTES",
    "AIRSPACE_SESSION_MAX_HOURS",
    # Single sign-on (#18): which provider is trusted, which of its groups grant which role and department,
    # and who may still use a password. The client secret is never recorded.
    "AIRSPACE_OIDC_ISSUER",
    "OIDC_RP_CLIENT_ID",
    "AIRSPACE_OIDC_GROUPS_CLAIM",
    "AIRSPACE_OIDC_ROLE_MAP",
    "AIRSPACE_OIDC_DEPARTMENT_MAP",
    "AIRSPACE_LOCAL_LOGIN",
    "DEBUG",
)
ACTION = "settings.changed"


def settings_snapshot() -> dict[str, Any]:
    """The audited settings as JSON values, plus the bundle models/CURRENT names."""
    snapshot = {name: getattr(settings, name, None) for name in AUDITED_SETTINGS}
    snapshot["models/CURRENT"] = CURRENT_POINTER.read_text().strip() if CURRENT_POINTER.is_file() else None
    return jsonable(snapshot)


@transaction.atomic
def settings_audit() -> AuditEvent | None:
    """Record `settings.changed` (changed keys before/after, full snapshot kept) if anything changed."""
    lock_chain()  # two beat runs must not both record the same change
    current = settings_snapshot()
    last = AuditEvent.objects.filter(action=ACTION).order_by("-id").values_list("after", flat=True).first()
    previous = (last or {}).get("snapshot") or {}
    changed = sorted(k for k in current.keys() | previous.keys() if current.get(k) != previous.get(k))
    if last is not None and not changed:
        return None
    return audit_record(
        actor=None,
        action=ACTION,
        object_type="settings",
        before={k: previous.get(k) for k in changed} if last is not None else None,
        after={"changed": {k: current.get(k) for k in changed}, "snapshot": current},
        reason="first snapshot" if last is None else "configuration differs from the last snapshot",
    )
