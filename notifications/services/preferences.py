"""Each user's choice, per kind, of the bell and email; with no row the defaults (both) apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from audit.services.events import SYSTEM, AuditContext, audit_record
from notifications.models import Kind, Preference
from portal.roles import Role, roles_of

# Which role each kind is for: a clinician hears about their studies' reads, a radiologist about studies.
KIND_ROLES = {
    Kind.READ_SIGNED: Role.CLINICIAN,
    Kind.READ_AMENDED: Role.CLINICIAN,
    Kind.STUDY_ARRIVED: Role.RADIOLOGIST,
    Kind.STUDY_ESCALATED: Role.RADIOLOGIST,
}


@dataclass(frozen=True)
class Choice:
    kind: str
    in_app: bool = True
    email: bool = True

    @property
    def label(self) -> str:
        return Kind(self.kind).label


def email_enabled() -> bool:
    """Whether this site sends email at all (production without SMTP settings does not)."""
    return bool(settings.AIRSPACE_EMAIL_ENABLED)


def kinds_for(user: Any) -> list[str]:
    """The kinds a user's roles receive, in display order."""
    held = roles_of(user)
    return [kind for kind in Kind.values if KIND_ROLES[Kind(kind)] in held]


def preferences_of(*, user_ids: list[int], kind: str) -> dict[int, Choice]:
    """Each user's choice for one kind (defaults for users without a row)."""
    rows = Preference.objects.filter(user_id__in=user_ids, kind=kind)
    chosen = {row.user_id: Choice(kind=kind, in_app=row.in_app, email=row.email) for row in rows}
    return {uid: chosen.get(uid, Choice(kind=kind)) for uid in user_ids}


def preferences_for(*, user: Any) -> list[Choice]:
    """The user's choice for every kind their roles receive."""
    kinds = kinds_for(user)
    rows = {p.kind: p for p in Preference.objects.filter(user=user, kind__in=kinds)}
    return [
        Choice(kind=k, in_app=rows[k].in_app, email=rows[k].email) if k in rows else Choice(kind=k)
        for k in kinds
    ]


@transaction.atomic
def preferences_set(*, user: Any, choices: list[Choice], context: AuditContext = SYSTEM) -> list[Choice]:
    """Save the user's choices for the kinds their roles receive (others are ignored); audited when changed."""
    before = {c.kind: (c.in_app, c.email) for c in preferences_for(user=user)}
    after: dict[str, tuple[bool, bool]] = {}
    for choice in choices:
        if choice.kind not in before:
            continue
        Preference.objects.update_or_create(
            user=user, kind=choice.kind, defaults={"in_app": choice.in_app, "email": choice.email}
        )
        after[choice.kind] = (choice.in_app, choice.email)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        audit_record(
            actor=user,
            action="notification.preferences",
            object_type="user",
            object_id=user.pk,
            before={k: {"in_app": before[k][0], "email": before[k][1]} for k in changed},
            after={k: {"in_app": v[0], "email": v[1]} for k, v in changed.items()},
            context=context,
        )
    return preferences_for(user=user)
