"""Which model bundle the portal serves: the one answer the worker, health, the model page, the model-info
API and monitoring all ask for (the promoted bundle when a ServedBundle row is active, else
AIRSPACE_MODEL_BUNDLE when set, else the bundle models/CURRENT names)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from audit.models import AuditEvent
from audit.selectors import audit_list
from mlcore.bundle import Bundle, load_bundle, resolve_bundle_dir
from mlcore.config import MODELS_DIR
from modelops.models import OperatingProfile, ServedBundle, ShadowRun
from portal.errors import DomainError
from portal.frozen_queries import FrozenSelect
from portal.query_params import date_param


def models_dir() -> Path:
    """The folder whose bundle sub-folders can be run in shadow and promoted (AIRSPACE_MODELS_DIR)."""
    return Path(settings.AIRSPACE_MODELS_DIR or MODELS_DIR)


_SERVED_SQL = f"SELECT bundle FROM {ServedBundle._meta.db_table} WHERE active LIMIT 1"  # noqa: S608 (no input)


def served_bundle_dir() -> Path:
    """The served bundle's folder: the promoted one (one query on a partial unique index), else the
    deployment default ($AIRSPACE_MODEL_BUNDLE, else models/CURRENT)."""
    # Plain SQL: the worker asks before every study, and the ORM's query building cost 0.4 CPU-ms of the
    # 0.5 (bench/served_bundle_lookup.py).
    with connection.cursor() as cursor:
        cursor.execute(_SERVED_SQL)
        promoted = cursor.fetchone()
    return _bundle_dir(promoted[0] if promoted else None)


def _bundle_dir(promoted: str | None) -> Path:
    """The promoted folder under models/, else the deployment default."""
    return models_dir() / promoted if promoted else resolve_bundle_dir(settings.AIRSPACE_MODEL_BUNDLE)


@dataclass(frozen=True)
class ShadowInProgress:
    """The shadow run in progress: its id and the served version whose predictions it scores."""

    id: int
    served_version: str


@dataclass(frozen=True)
class ServingState:
    """What serves the next study, as one statement read it: the bundle folder, the active operating
    profile of each model version, and the shadow run in progress."""

    bundle_dir: Path
    profiles: dict[str, OperatingProfile]
    shadow: ShadowInProgress | None


def shadow_in_progress() -> ShadowInProgress | None:
    """The shadow run in progress, if any (one at a time)."""
    running = ShadowRun.objects.filter(status=ShadowRun.Status.RUNNING).values_list("pk", "served_version")
    row = running.first()
    return ShadowInProgress(*row) if row else None


def _running(field: str) -> Subquery:
    return Subquery(ShadowRun.objects.filter(status=ShadowRun.Status.RUNNING).values(field)[:1])


# Compiled once per process (#17): the worker asked for these in three statements before every study.
# Each active profile (one per model version) carries the served folder and the shadow run, if any.
_SERVING = FrozenSelect(
    lambda: (
        OperatingProfile.objects.filter(active=True)
        .order_by()
        .annotate(
            served_folder=Subquery(ServedBundle.objects.filter(active=True).values("bundle")[:1]),
            shadow_id=_running("pk"),
            shadow_served_version=_running("served_version"),
        )
    )
)


def serving_state() -> ServingState | None:
    """The worker's question before every study, in one statement; None while no profile is active at all
    (a new installation: the caller then asks piece by piece, which creates the bundle's own profile)."""
    rows = _SERVING.fetch()
    if not rows:
        return None
    first = rows[0]
    shadow = ShadowInProgress(first.shadow_id, first.shadow_served_version) if first.shadow_id else None
    return ServingState(
        bundle_dir=_bundle_dir(first.served_folder),
        profiles={row.model_version: row for row in rows},
        shadow=shadow,
    )


def active_bundle(*, verify: bool = False) -> Bundle:
    """The bundle this portal serves, parsed; BundleError saying why when there is none or it is broken.

    `verify` also checks the weights and every serving artifact against their recorded sha256 (no
    TensorFlow): the worker does this before it starts, pages only need the parsed metadata.
    """
    return load_bundle(served_bundle_dir(), serving=verify, verify=verify)


MODEL_VERSION = re.compile(r"[A-Za-z0-9._+\-]{1,64}")


def monitoring_filters(params: Mapping[str, Any]) -> dict[str, Any]:
    """model_version, date_from and date_to from the query string; a bad value is a 400 naming it."""
    date_from, date_to = date_param(params, "date_from"), date_param(params, "date_to")
    if date_from and date_to and date_from > date_to:
        raise DomainError(
            "date_from must not be after date_to.",
            code="invalid_filter",
            fields={"date_from": ["must not be after date_to"]},
        )
    version = str(params.get("model_version", "")).strip()
    if version and not MODEL_VERSION.fullmatch(version):
        raise DomainError(
            "model_version is at most 64 letters, digits or . _ - +",
            code="invalid_filter",
            fields={"model_version": ["at most 64 letters, digits or . _ - +"]},
        )
    return {"model_version": version or None, "date_from": date_from, "date_to": date_to}


def profile_list(*, model_version: str) -> QuerySet[OperatingProfile]:
    """A model version's operating profiles, newest first (admin pages; the caller checks the role)."""
    return OperatingProfile.objects.filter(model_version=model_version).select_related("created_by")


def profile_get(*, profile_id: int) -> OperatingProfile:
    """One profile, or Http404."""
    return get_object_or_404(OperatingProfile.objects.select_related("created_by"), pk=profile_id)


# The audit actions that change what labels new studies (and profile.create of an active profile: the
# bundle's own, active from its first study). The history is read from the audit trail, not the rows:
# activated_at keeps only a row's latest activation, a rollback to the deployment default leaves no
# ServedBundle row, and neither row records who switched or from what.
CHANGES = ("profile.activate", "bundle.serve")
VIA_SHADOW = ("shadow.promote", "shadow.rollback")


@dataclass(frozen=True)
class LifecycleChange:
    """One change of the served bundle or of a version's active profile, as the audit trail recorded it."""

    event_id: int
    at: dt.datetime
    actor: str
    change: str  # profile.activate, profile.default or bundle.serve
    via: str  # "shadow #3 promote", "shadow #3 rollback", or "" (a direct activation)
    before: str
    after: str
    reason: str


def _profile_label(profile_id: Any, after: Mapping[str, Any] | None = None) -> str:
    if profile_id is None:
        return "none (the bundle's own until its first study)"
    if not after:
        return f"profile #{profile_id}"
    return (
        f"profile #{profile_id} of {after.get('model_version')} ({after.get('source')}, "
        f"threshold {float(after.get('threshold') or 0):.3f})"
    )


def _bundle_label(state: Mapping[str, Any], folders: Mapping[int, str]) -> str:
    row = state.get("served_bundle")
    where = f"bundle {folders.get(row, '?')} (promotion #{row})" if row else "the deployment default"
    return f"{state.get('model_version')}: {where}"


def _change(event: AuditEvent, via: str, folders: Mapping[int, str]) -> LifecycleChange:
    before, after = event.before or {}, event.after or {}
    if event.action == "bundle.serve":
        change, was, now = event.action, _bundle_label(before, folders), _bundle_label(after, folders)
    elif event.action == "profile.activate":
        change, was = event.action, _profile_label(before.get("active_profile"))
        now = _profile_label(after.get("id"), after)
    else:  # profile.create of an active profile: the bundle's own calibration became the default
        change, was, now = "profile.default", _profile_label(None), _profile_label(after.get("id"), after)
    return LifecycleChange(
        event_id=event.pk,
        at=event.created_at,
        actor=event.actor_username,
        change=change,
        via=via,
        before=was,
        after=now,
        reason=event.reason,
    )


def lifecycle_history(*, limit: int = 100) -> list[LifecycleChange]:
    """Every served-bundle change and profile activation, newest first (admin pages and API; the caller
    checks the role). A change made by a shadow promotion or rollback is followed, in the same transaction,
    by that shadow event (the next seq of the chain), which names it."""
    trail = audit_list()
    changes = list(
        trail.filter(Q(action__in=CHANGES) | Q(action="profile.create", after__active=True))[:limit]
    )
    next_seqs = [e.seq + 1 for e in changes if e.seq is not None]
    shadows = {e.seq: e for e in trail.filter(action__in=VIA_SHADOW, seq__in=next_seqs)}
    rows = {
        state.get("served_bundle")
        for e in changes
        if e.action == "bundle.serve"
        for state in (e.before or {}, e.after or {})
    }
    folders = dict(ServedBundle.objects.filter(pk__in=rows - {None}).values_list("pk", "bundle"))
    history = []
    for event in changes:
        shadow = shadows.get(event.seq + 1) if event.seq is not None else None
        via = f"shadow #{shadow.object_id} {shadow.action.removeprefix('shadow.')}" if shadow else ""
        history.append(_change(event, via, folders))
    return history
