"""Reads of user accounts for the admins' user management (admins manage every department)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.http import Http404

from portal.roles import Role


def user_list(*, query: str = "", role: str = "", active: bool | None = None) -> QuerySet[User]:
    """Accounts by username, optionally searched (username, name, email), by role or by active state."""
    queryset = User.objects.select_related("profile__department").prefetch_related("groups")
    if query:
        queryset = queryset.filter(
            Q(username__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
            | Q(email__icontains=query)
        )
    if role in Role.values:
        queryset = queryset.filter(groups__name=role)
    if active is not None:
        queryset = queryset.filter(is_active=active)
    return queryset.distinct().order_by("username")


def user_get(*, user_id: Any) -> User:
    """One account, or 404."""
    user = User.objects.select_related("profile__department").filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user.")
    return user


def user_roles(user: User) -> list[str]:
    """The account's role names (from prefetched groups when present), in Role order."""
    names = {g.name for g in user.groups.all()}
    return [r for r in Role.values if r in names]
