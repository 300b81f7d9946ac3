"""Audit of changes to models Airspace does not own (Django's User, Group and admin LogEntry).

Role changes (User.groups, from either side), user record edits, group renames and every Django admin
action are written to the audit chain in the same transaction as the change. Airspace's own models
(staff profiles, departments, studies...) are audited by their services instead. The actor,
IP and user agent come from the current request (AuditRequestMiddleware); commands record "system".
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Group, User
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from audit.middleware import current_request
from audit.services.events import AuditContext, audit_record

# User fields whose changes are recorded; the password hash itself never is, only that it changed.
USER_FIELDS = ("username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser")
_ADMIN_ACTIONS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


def _actor_and_context() -> tuple[Any, AuditContext]:
    request = current_request()
    user = getattr(request, "user", None)
    actor = user if getattr(user, "is_authenticated", False) else None
    return actor, AuditContext.from_request(request)


def _record(**kwargs: Any) -> None:
    actor, context = _actor_and_context()
    audit_record(actor=actor, context=context, **kwargs)


def _groups_of(user_ids: list[int]) -> dict[int, list[str]]:
    """Each user's group (role) names, sorted."""
    roles: dict[int, list[str]] = {uid: [] for uid in user_ids}
    rows = User.groups.through.objects.filter(user_id__in=user_ids).values_list("user_id", "group__name")
    for uid, name in rows:
        roles[uid].append(name)
    return {uid: sorted(names) for uid, names in roles.items()}


def _affected_users(instance: Any, reverse: bool, pk_set: set[int] | None) -> list[int]:
    if not reverse:
        return [instance.pk]
    if pk_set is None:  # group.user_set.clear(): everyone in the group
        return list(instance.user_set.values_list("pk", flat=True))
    return sorted(pk_set)


@receiver(m2m_changed, sender=User.groups.through)
def audit_role_change(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **_: Any
) -> None:
    """Record `user.roles_changed` with the role lists before and after, whichever side changed."""
    if action.startswith("pre_"):
        users = _affected_users(instance, reverse, pk_set)
        instance._airspace_roles_before = _groups_of(users)
        return
    if not action.startswith("post_"):
        return
    before: dict[int, list[str]] = getattr(instance, "_airspace_roles_before", {})
    after = _groups_of(list(before))
    for uid, roles in after.items():
        if roles != before[uid]:
            _record(
                action="user.roles_changed",
                object_type="user",
                object_id=uid,
                before={"roles": before[uid]},
                after={"roles": roles},
            )
    if not reverse:
        instance.__dict__.pop("_airspace_roles", None)  # roles_of() must not answer from a stale cache


def _user_state(user: User) -> dict[str, Any]:
    return {name: getattr(user, name) for name in USER_FIELDS}


@receiver(pre_save, sender=User)
def remember_user_state(sender: Any, instance: User, update_fields: Any = None, **_: Any) -> None:
    """Keep the stored values so post_save can record what changed."""
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    stored = User.objects.filter(pk=instance.pk).first() if instance.pk else None
    instance._airspace_before = (_user_state(stored), stored.password) if stored else None


@receiver(post_save, sender=User)
def audit_user_saved(sender: Any, instance: User, created: bool, **_: Any) -> None:
    """Record `user.create` or `user.change` (changed fields only; a password change as a flag)."""
    if not hasattr(instance, "_airspace_before"):
        return  # a last-login stamp: the sign-in itself is audited
    snapshot = instance.__dict__.pop("_airspace_before")
    after = _user_state(instance)
    if created or snapshot is None:
        _record(action="user.create", object_type="user", object_id=instance.pk, after=after)
        return
    stored, password = snapshot
    before = {k: v for k, v in stored.items() if after[k] != v}
    changed = {k: after[k] for k in before}
    if instance.password != password:
        before["password"], changed["password"] = "(previous)", "(changed)"
    if changed:
        _record(action="user.change", object_type="user", object_id=instance.pk, before=before, after=changed)


@receiver(post_delete, sender=User)
def audit_user_deleted(sender: Any, instance: User, **_: Any) -> None:
    """Record `user.delete`."""
    _record(action="user.delete", object_type="user", object_id=instance.pk, before=_user_state(instance))


@receiver(post_save, sender=LogEntry)
def audit_admin_action(sender: Any, instance: LogEntry, created: bool, **_: Any) -> None:
    """Mirror every Django admin add/change/delete (settings, departments, users) into the chain."""
    if not created:
        return
    model = instance.content_type.model if instance.content_type_id else ""
    audit_record(
        actor=instance.user,
        action=f"admin.{_ADMIN_ACTIONS.get(instance.action_flag, 'action')}",
        object_type=model,
        object_id=instance.object_id or "",
        after={"object": instance.object_repr, "change": instance.get_change_message()},
        context=AuditContext.from_request(current_request()),
    )


# Group renames change what a role is called; record them too.
@receiver(pre_save, sender=Group)
def remember_group_name(sender: Any, instance: Group, **_: Any) -> None:
    """Keep the stored group name."""
    stored = Group.objects.filter(pk=instance.pk).values_list("name", flat=True) if instance.pk else None
    instance._airspace_before = stored.first() if stored is not None else None


@receiver(post_save, sender=Group)
def audit_group_saved(sender: Any, instance: Group, created: bool, **_: Any) -> None:
    """Record `role.create` or `role.rename`."""
    before = instance.__dict__.pop("_airspace_before", None)
    if created:
        _record(
            action="role.create", object_type="group", object_id=instance.pk, after={"name": instance.name}
        )
    elif before != instance.name:
        _record(
            action="role.rename",
            object_type="group",
            object_id=instance.pk,
            before={"name": before},
            after={"name": instance.name},
        )


@receiver(pre_delete, sender=Group)
def audit_role_deleted(sender: Any, instance: Group, **_: Any) -> None:
    """A deleted group silently drops its members' role (no m2m_changed): record each one, then the role."""
    members = list(instance.user_set.values_list("pk", flat=True))
    roles = _groups_of(members)
    for uid in members:
        _record(
            action="user.roles_changed",
            object_type="user",
            object_id=uid,
            before={"roles": roles[uid]},
            after={"roles": [name for name in roles[uid] if name != instance.name]},
            reason=f"role {instance.name} deleted",
        )
    _record(action="role.delete", object_type="group", object_id=instance.pk, before={"name": instance.name})
