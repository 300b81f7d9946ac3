"""From a provider's claims to Airspace roles and a department (pure functions, no database)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from portal.roles import Role


@dataclass(frozen=True)
class Access:
    """What one login's claims grant: roles (possibly none) and a department (possibly none)."""

    roles: frozenset[str]
    department: str | None
    provider_groups: tuple[str, ...]  # the groups that matched a mapping, for the audit trail


def parse_map(raw: str) -> dict[str, str]:
    """Parse `group=value,group=value` or a JSON object into an ordered dict (order decides ties).

    Raises ValueError on a malformed entry, so a typo fails the configuration check at start-up.
    """
    raw = raw.strip()
    if not raw:
        return {}
    if raw.startswith("{"):
        parsed = json.loads(raw)
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise ValueError("a JSON map must be an object of strings")
        return {str(k): v for k, v in parsed.items()}
    mapping: dict[str, str] = {}
    for entry in raw.split(","):
        group, sep, value = entry.strip().rpartition("=")
        if not sep or not group.strip() or not value.strip():
            raise ValueError(f"entry {entry.strip()!r} is not provider-group=value")
        mapping[group.strip()] = value.strip()
    return mapping


@lru_cache(maxsize=8)
def role_map(raw: str) -> dict[str, str]:
    """The provider-group -> role map; every value must be one of Airspace's roles."""
    mapping = parse_map(raw)
    unknown = sorted(set(mapping.values()) - set(Role.values))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(Role.values)}")
    return mapping


@lru_cache(maxsize=8)
def department_map(raw: str) -> dict[str, str]:
    """The provider-group -> department name map."""
    return parse_map(raw)


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The strings at a claim path; dots descend into objects (Keycloak's `realm_access.roles`)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return []
        value = value[part]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value if isinstance(item, str | int)]
    return []


def access_from_claims(
    claims: Mapping[str, Any], *, groups_claim: str, roles: Mapping[str, str], departments: Mapping[str, str]
) -> Access:
    """Map the groups a provider asserts to roles and one department.

    1. Read the group claim (a list or a single string).
    2. Every group in the role map grants its role; groups not in it grant nothing.
    3. The department is the first entry of the department map (in its order) that the user is in.
    """
    held = set(claim_values(claims, groups_claim))
    granted = frozenset(role for group, role in roles.items() if group in held)
    department = next((name for group, name in departments.items() if group in held), None)
    matched = tuple(sorted(held & (set(roles) | set(departments))))
    return Access(roles=granted, department=department, provider_groups=matched)
