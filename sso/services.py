"""Create or update the Airspace user behind a provider login, re-syncing roles and department."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from audit.services.events import AuditContext, audit_record
from diagnosis.models import Department, StaffProfile
from portal.roles import Role
from sso.claims import Access, access_from_claims, claim_values
from sso.config import SsoSettings
from sso.models import SsoIdentity

# User fields kept in step with the provider's standard claims on every login.
PROFILE_CLAIMS = {"email": "email", "first_name": "given_name", "last_name": "family_name"}


def _free_username(wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`... when a (local or other) account already has it."""
    # Django usernames allow letters, digits and @.+-_ only; provider names may hold anything.
    base = re.sub(r"[^\w.@+-]", "-", wanted)[:140] or "sso-user"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _user_create(*, issuer: str, subject: str, claims: Mapping[str, Any], config: SsoSettings) -> User:
    """A new user (no usable password: they sign in through the provider) linked to the subject."""
    wanted = next(iter(claim_values(claims, config.username_claim) or claim_values(claims, "email")), subject)
    user = User(username=_free_username(wanted))
    user.set_unusable_password()
    _apply_profile(user, claims)
    user.full_clean()
    user.save()  # audit.signals records user.create
    SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    return user


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _apply_profile(user: User, claims: Mapping[str, Any]) -> bool:
    """Copy name and email from the claims; whether anything changed."""
    changed = False
    for field, claim in PROFILE_CLAIMS.items():
        value = str(claims.get(claim) or "")[: User._meta.get_field(field).max_length]
        if field == "email" and not _is_email(value):
            continue  # a malformed email claim is ignored rather than failing the sign-in
        if value and getattr(user, field) != value:
            setattr(user, field, value)
            changed = True
    return changed


def _sync_roles(user: User, roles: frozenset[str]) -> None:
    """Make the user's Airspace roles exactly `roles`; other (non-role) groups are left alone."""
    current = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    stale = current - roles
    if stale:
        user.groups.remove(*Group.objects.filter(name__in=stale))  # audited as user.roles_changed
    missing = roles - current
    if missing:
        user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in sorted(missing)))
    user.__dict__.pop("_airspace_roles", None)


def _sync_department(user: User, name: str | None, context: AuditContext) -> None:
    """Point the user's staff profile at the mapped department (audited as user.department_changed)."""
    department = None
    if name is not None:
        department, created = Department.objects.get_or_create(name=name)
        if created:
            audit_record(
                actor=None,
                action="department.create",
                object_type="department",
                object_id=department.pk,
                after={"name": name},
                reason="named by AIRSPACE_OIDC_DEPARTMENT_MAP",
                context=context,
            )
    profile = StaffProfile.objects.filter(user=user).first()
    if profile is None:
        if department is not None:
            StaffProfile.objects.create(user=user, department=department)
        return
    if profile.department_id != (department.pk if department else None):
        profile.department = department
        profile.save()


@transaction.atomic
def sso_user_sync(
    *, issuer: str, claims: Mapping[str, Any], config: SsoSettings, context: AuditContext
) -> tuple[User, Access]:
    """The user for a verified provider login, created or updated, roles and department re-synced.

    Every login re-applies the mapping, so a role removed at the provider is removed here at the next
    sign-in, and a role granted locally by hand to an SSO user does not survive it. Claims that map to
    no role leave the user with none: they can sign in but see nothing.
    """
    subject = str(claims["sub"])
    access = access_from_claims(
        claims, groups_claim=config.groups_claim, roles=config.roles, departments=config.departments or {}
    )
    # Only the identity row is locked (of=self): FOR UPDATE on the joined user row as well would conflict
    # with the FOR KEY SHARE that any concurrent transaction auditing this user takes at COMMIT, after it
    # holds the audit-chain lock this login then waits for (the deadlock the DICOM receiver had).
    identity = (
        SsoIdentity.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is None:
        user = _user_create(issuer=issuer, subject=subject, claims=claims, config=config)
        audit_record(
            actor=None,
            action="sso.identity_link",
            object_type="user",
            object_id=user.pk,
            after={"issuer": issuer, "subject": subject, "username": user.username},
            context=context,
        )
    else:
        user = identity.user
        if _apply_profile(user, claims):
            user.full_clean()
            user.save()  # audit.signals records user.change
    _sync_roles(user, access.roles)
    if config.departments is not None:
        _sync_department(user, access.department, context)
    SsoIdentity.objects.filter(user=user).update(last_login_at=timezone.now())
    return user, access
