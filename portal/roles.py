"""The three roles, as Django groups; a user with none of them sees nothing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    RADIOLOGIST = "radiologist", "Radiologist"
    ADMIN = "admin", "Admin"


def roles_of(user: Any) -> frozenset[str]:
    """The role names a user holds (empty for anonymous or role-less users), cached per user object."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_airspace_roles", None)
    if cached is None:
        names = user.groups.filter(name__in=Role.values).values_list("name", flat=True)
        cached = frozenset(names)
        user._airspace_roles = cached
    return cached


def has_role(user: Any, *roles: str) -> bool:
    """Whether the user holds any of the given roles."""
    return bool(roles_of(user) & set(roles))


def roles_context(request: HttpRequest) -> dict[str, object]:
    """Template context: the current user's roles as booleans.

    Error pages render before authentication middleware has run (a forged Host header fails in
    CommonMiddleware), so a request may have no `user` yet: it then holds no role.
    """
    held = roles_of(getattr(request, "user", None))
    return {
        "is_clinician": Role.CLINICIAN in held,
        "is_radiologist": Role.RADIOLOGIST in held,
        "is_admin_role": Role.ADMIN in held,
        "user_roles": sorted(held),
    }


def role_required(*roles: str) -> Any:
    """Page decorator: logged in and holding one of the roles, else 403."""

    def decorate(view: Any) -> Any:
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not has_role(request.user, *roles):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate


ANY_ROLE = (Role.CLINICIAN, Role.RADIOLOGIST, Role.ADMIN)
