"""Reads the SSO settings at call time (so tests can override them) and says whether SSO is on."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from sso.claims import department_map, role_map

LOCAL_LOGIN_POLICIES = ("all", "admins", "off")


@dataclass(frozen=True)
class SsoSettings:
    """The operator's OpenID Connect configuration."""

    provider_name: str
    issuer: str
    groups_claim: str
    username_claim: str
    roles: dict[str, str]
    departments: dict[str, str] | None  # None: no department map, departments are managed in Airspace


def sso_enabled() -> bool:
    """SSO is on once a client id and either an issuer or the endpoints are configured."""
    if not settings.OIDC_RP_CLIENT_ID:
        return False
    return bool(settings.AIRSPACE_OIDC_ISSUER or settings.OIDC_OP_AUTHORIZATION_ENDPOINT)


def sso_settings() -> SsoSettings:
    """The current configuration, with both maps parsed."""
    raw_departments = settings.AIRSPACE_OIDC_DEPARTMENT_MAP
    return SsoSettings(
        provider_name=settings.AIRSPACE_OIDC_PROVIDER_NAME,
        issuer=settings.AIRSPACE_OIDC_ISSUER.rstrip("/"),
        groups_claim=settings.AIRSPACE_OIDC_GROUPS_CLAIM,
        username_claim=settings.AIRSPACE_OIDC_USERNAME_CLAIM,
        roles=role_map(settings.AIRSPACE_OIDC_ROLE_MAP),
        departments=department_map(raw_departments) if raw_departments.strip() else None,
    )


def local_login_policy() -> str:
    """Who may sign in with a local password: `all`, `admins` (break-glass) or `off`."""
    return settings.AIRSPACE_LOCAL_LOGIN
