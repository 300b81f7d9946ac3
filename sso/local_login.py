"""Whether a local password signs an account in under AIRSPACE_LOCAL_LOGIN, and why not when it does not.

The password backend and the user-management pages ask the same question here, so an admin is never told a
reset link will help an account the login form would refuse.
"""

from __future__ import annotations

from typing import Any

from portal.roles import Role, roles_of
from sso.config import local_login_policy, sso_enabled, sso_settings


def password_signs_in(user: Any) -> bool:
    """`all`: everyone; `admins`: break-glass accounts only (admin role or superuser); `off`: nobody."""
    policy = local_login_policy()
    if policy == "all":
        return True
    if policy == "admins":
        return bool(user.is_superuser) or Role.ADMIN in roles_of(user)
    return False


def password_refusal(user: Any) -> str:
    """Why a password set for this account would not sign it in; "" when it would."""
    if password_signs_in(user):
        return ""
    provider = sso_settings().provider_name if sso_enabled() else "single sign-on"
    if local_login_policy() == "admins":
        return (
            f"This site signs in with {provider}: a local password works only for admin (break-glass) "
            f"accounts (AIRSPACE_LOCAL_LOGIN=admins), so {user.get_username()} signs in with {provider}."
        )
    return (
        f"Local passwords are off on this site (AIRSPACE_LOCAL_LOGIN=off): {user.get_username()} "
        f"signs in with {provider}, not with a password."
    )
