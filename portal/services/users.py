"""User management by an admin: create, change role and department, deactivate, reactivate, reset link.

Every change is audited in its transaction: User and role changes by audit.signals (user.create,
user.change, user.roles_changed, with the admin taken from the request), the department by
diagnosis.services.staff, the reset link here. A deactivation revokes the user's API tokens
(portal.tokens) and ends their sessions (Django refuses inactive users on every request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Department
from diagnosis.services.staff import staff_department_set
from portal.errors import Conflict, DomainError
from portal.roles import Role, has_role

PASSWORD_RESET_TASK = "portal.tasks.password_reset_email_task"


@dataclass(frozen=True)
class UserFields:
    """What an admin sets on an account (the username only at creation)."""

    first_name: str
    last_name: str
    email: str
    roles: tuple[str, ...]
    department: Department | None


def _check(fields: UserFields) -> None:
    errors: dict[str, list[str]] = {}
    if fields.email:
        try:
            validate_email(fields.email)
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]
    unknown = [r for r in fields.roles if r not in Role.values]
    if unknown or not fields.roles:
        errors["roles"] = [f"Choose at least one role of: {', '.join(Role.values)}."]
    if errors:
        raise DomainError("The account details are incomplete.", code="invalid_user", fields=errors)


def _apply(user: User, fields: UserFields, context: AuditContext, actor: Any) -> None:
    groups = [Group.objects.get_or_create(name=role)[0] for role in fields.roles]
    user.groups.set(groups)  # audited by audit.signals (user.roles_changed)
    user.__dict__.pop("_airspace_roles", None)
    staff_department_set(user=user, department=fields.department, actor=actor, context=context)


@transaction.atomic
def user_create(*, actor: Any, username: str, fields: UserFields, context: AuditContext = SYSTEM) -> User:
    """A new account with no usable password: its holder sets one through the reset link."""
    username = username.strip()
    _check(fields)
    if not username or User.objects.filter(username__iexact=username).exists():
        message = "That username is taken." if username else "A username is required."
        raise DomainError(message, code="invalid_user", fields={"username": [message]})
    user = User(username=username, first_name=fields.first_name.strip(), last_name=fields.last_name.strip())
    user.email = fields.email.strip()
    user.set_unusable_password()
    user.full_clean()
    user.save()  # audited by audit.signals (user.create)
    _apply(user, fields, context, actor)
    return user


@transaction.atomic
def user_update(*, actor: Any, user: User, fields: UserFields, context: AuditContext = SYSTEM) -> User:
    """Change name, email, roles and department; an admin cannot take their own admin role away."""
    _check(fields)
    if user.pk == actor.pk and Role.ADMIN not in fields.roles:
        raise Conflict("You cannot remove your own admin role.", code="own_admin_role")
    _last_admin_guard(user, losing=Role.ADMIN not in fields.roles)
    user.first_name, user.last_name = fields.first_name.strip(), fields.last_name.strip()
    user.email = fields.email.strip()
    user.full_clean()
    user.save()  # audited by audit.signals (user.change, changed fields only)
    _apply(user, fields, context, actor)
    return user


def _last_admin_guard(user: User, *, losing: bool) -> None:
    """Someone must be left who can manage users."""
    if losing and has_role(user, Role.ADMIN) and user.is_active:
        others = User.objects.filter(is_active=True, groups__name=Role.ADMIN).exclude(pk=user.pk)
        if not others.exists():
            raise Conflict("This is the last active admin: make another admin first.", code="last_admin")


@transaction.atomic
def user_deactivate(*, actor: Any, user: User, context: AuditContext = SYSTEM) -> User:
    """Deactivate: no sign-in, no session, no API token (revoked in this transaction, audited)."""
    if user.pk == actor.pk:
        raise Conflict("You cannot deactivate your own account.", code="own_account")
    _last_admin_guard(user, losing=True)
    if user.is_active:
        user.is_active = False
        user.save()  # audited (user.change); portal.tokens revokes every token (auth.tokens_revoked)
    return user


@transaction.atomic
def user_reactivate(*, actor: Any, user: User, context: AuditContext = SYSTEM) -> User:
    """Let a deactivated user sign in again (their old tokens stay revoked)."""
    if not user.is_active:
        user.is_active = True
        user.save()  # audited (user.change)
    return user


def _reset_send(user_id: int, base_url: str) -> None:
    current_app.send_task(PASSWORD_RESET_TASK, args=[user_id, base_url])


@transaction.atomic
def password_reset_send(*, actor: Any, user: User, base_url: str, context: AuditContext = SYSTEM) -> None:
    """Email the user a one-time link to set a password; the token is made by the worker, never queued."""
    if not user.is_active:
        raise Conflict("Reactivate the account before sending a reset link.", code="inactive_user")
    if not user.email:
        raise Conflict("The account has no email address to send the link to.", code="no_email")
    if not settings.AIRSPACE_EMAIL_ENABLED:
        raise Conflict(
            "This site has no mail server (AIRSPACE_EMAIL_HOST), so it cannot send links.", code="no_email"
        )
    audit_record(
        actor=actor,
        action="user.password_reset_sent",
        object_type="user",
        object_id=user.pk,
        after={"email": user.email},
        context=context,
    )
    transaction.on_commit(lambda: _reset_send(user.pk, base_url), robust=True)
