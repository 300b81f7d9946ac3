"""Start-up checks: the SSO maps parse, the local-login policy is known, someone can still sign in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from sso.claims import department_map, role_map
from sso.config import LOCAL_LOGIN_POLICIES, sso_enabled


@register()
def sso_configuration(app_configs: Any = None, **_: Any) -> list[CheckMessage]:
    """Reject a malformed role/department map or policy; warn about a configuration nobody can use."""
    problems: list[CheckMessage] = []
    for name, parse in (
        ("AIRSPACE_OIDC_ROLE_MAP", role_map),
        ("AIRSPACE_OIDC_DEPARTMENT_MAP", department_map),
    ):
        try:
            parse(getattr(settings, name))
        except ValueError as exc:
            problems.append(Error(f"{name}: {exc}", id="sso.E001"))
    if settings.AIRSPACE_LOCAL_LOGIN not in LOCAL_LOGIN_POLICIES:
        problems.append(
            Error(f"AIRSPACE_LOCAL_LOGIN must be one of {', '.join(LOCAL_LOGIN_POLICIES)}", id="sso.E002")
        )
    if sso_enabled() and not settings.AIRSPACE_OIDC_ROLE_MAP.strip():
        problems.append(
            Warning(
                "single sign-on is on but AIRSPACE_OIDC_ROLE_MAP is empty: SSO users get no role",
                id="sso.W001",
            )
        )
    if not sso_enabled() and settings.AIRSPACE_LOCAL_LOGIN == "off":
        problems.append(
            Warning("AIRSPACE_LOCAL_LOGIN=off without single sign-on: password login stays on", id="sso.W002")
        )
    return problems
