"""Role checks for the API and the pages. Object scoping is done by selectors, not here."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from portal.roles import Role, has_role


class RolePermission(BasePermission):
    """Allow only users holding one of `roles` (subclasses set it)."""

    roles: tuple[str, ...] = ()
    message = "Your role does not allow this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return has_role(request.user, *self.roles)


class AnyRole(RolePermission):
    roles = (Role.CLINICIAN, Role.RADIOLOGIST, Role.ADMIN)


class Uploader(RolePermission):
    roles = (Role.CLINICIAN, Role.ADMIN)


class Reader(RolePermission):
    roles = (Role.RADIOLOGIST, Role.ADMIN)


class Radiologist(RolePermission):
    roles = (Role.RADIOLOGIST,)


class Admin(RolePermission):
    roles = (Role.ADMIN,)
