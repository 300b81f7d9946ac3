"""API tokens (django-rest-knox): issue, revoke one, revoke all of a user's; every change audited.

Only a SHA-512 digest of each token is stored, so neither the database nor the admin can hand a token to
anyone. A password change or a deactivation revokes all of the user's tokens (the receivers below), so
a leaked token dies with the credentials it was issued for (#17 finding 5).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone
from knox.models import AuthToken

from audit.middleware import current_request
from audit.services.events import audit_record, ctx


def _audit(**kwargs: Any) -> None:
    audit_record(object_type="user", **kwargs)


@transaction.atomic
def token_issue(*, user: Any, context: Any) -> tuple[str, dt.datetime | None]:
    """A new token for the user (shown once, stored as a digest) and when it expires; the user's expired
    tokens go (portal.api.authentication refuses them but no longer deletes them on every request)."""
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    instance, token = AuthToken.objects.create(user=user)
    _audit(
        actor=user, action="auth.token", object_id=user.pk, after={"expiry": instance.expiry}, context=context
    )
    return token, instance.expiry


@transaction.atomic
def token_revoke(*, token: AuthToken, actor: Any, context: Any) -> None:
    """Revoke one token (logout, or an admin revoking it)."""
    owner = token.user
    token.delete()
    _audit(actor=actor, action="auth.token_revoked", object_id=owner.pk, context=context)


@transaction.atomic
def tokens_revoke_all(*, user: Any, actor: Any, reason: str, context: Any) -> int:
    """Revoke every token the user holds; audited when there was any."""
    revoked, _ = AuthToken.objects.filter(user=user).delete()
    if revoked:
        _audit(
            actor=actor,
            action="auth.tokens_revoked",
            object_id=user.pk,
            after={"revoked": revoked},
            reason=reason,
            context=context,
        )
    return revoked


@receiver(pre_save, sender=User)
def remember_credentials(sender: Any, instance: User, update_fields: Any = None, **_: Any) -> None:
    """Keep the stored password hash and active flag, so post_save can tell whether they changed."""
    if instance.pk is None or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    stored = User.objects.filter(pk=instance.pk).values_list("password", "is_active").first()
    instance._airspace_credentials = stored


@receiver(post_save, sender=User)
def revoke_tokens_on_credential_change(sender: Any, instance: User, created: bool, **_: Any) -> None:
    """A new password or a deactivation revokes all of the user's tokens."""
    stored = instance.__dict__.pop("_airspace_credentials", None)
    if created or stored is None:
        return
    password, was_active = stored
    reason = ""
    if instance.password != password:
        reason = "password changed"
    elif was_active and not instance.is_active:
        reason = "account deactivated"
    if reason:
        request = current_request()
        user = getattr(request, "user", None)
        actor = user if getattr(user, "is_authenticated", False) else None
        tokens_revoke_all(user=instance, actor=actor, reason=reason, context=ctx(request))
