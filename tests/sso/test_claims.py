"""The claim-to-role mapping and the SSO configuration check (no provider needed)."""

from __future__ import annotations

import pytest

from sso.checks import sso_configuration
from sso.claims import access_from_claims, claim_values, department_map, parse_map, role_map

ROLES = role_map("/airspace/radiologists=radiologist,/airspace/admins=admin,ward-staff=clinician")
DEPARTMENTS = department_map("ward-paeds=Paediatrics,ward-er=Emergency")


def test_groups_map_to_roles_and_the_first_mapped_department() -> None:
    claims = {
        "sub": "1",
        "groups": ["/airspace/radiologists", "ward-staff", "ward-er", "ward-paeds", "other"],
    }
    access = access_from_claims(claims, groups_claim="groups", roles=ROLES, departments=DEPARTMENTS)
    assert access.roles == {"radiologist", "clinician"}
    assert access.department == "Paediatrics"  # the map's order decides, not the claim's
    assert "other" not in access.provider_groups


def test_unmapped_groups_grant_nothing() -> None:
    access = access_from_claims(
        {"sub": "1", "groups": ["radiologist", "admin"]}, groups_claim="groups", roles=ROLES, departments={}
    )
    assert access.roles == frozenset() and access.department is None


def test_nested_claim_paths_and_single_strings() -> None:
    keycloak = {"realm_access": {"roles": ["/airspace/admins", "offline_access"]}}
    assert claim_values(keycloak, "realm_access.roles") == ["/airspace/admins", "offline_access"]
    assert claim_values({"roles": "ward-staff"}, "roles") == ["ward-staff"]
    assert claim_values({"groups": {"not": "a list"}}, "groups") == []
    assert claim_values({}, "realm_access.roles") == []


def test_maps_accept_json_and_reject_typos() -> None:
    entra = '{"5f0c7a4e-0000-4000-8000-000000000001": "radiologist"}'
    assert parse_map(entra) == {"5f0c7a4e-0000-4000-8000-000000000001": "radiologist"}
    with pytest.raises(ValueError, match="unknown role"):
        role_map("group=radiolgist")
    with pytest.raises(ValueError, match="not provider-group=value"):
        parse_map("group-without-value")


def test_configuration_check_reports_a_bad_map_and_policy(settings) -> None:
    settings.AIRSPACE_OIDC_ROLE_MAP = "group=superuser"
    settings.AIRSPACE_LOCAL_LOGIN = "sometimes"
    ids = {problem.id for problem in sso_configuration()}
    assert {"sso.E001", "sso.E002"} <= ids


@pytest.mark.django_db
def test_sync_sanitises_the_username_and_ignores_a_malformed_email(settings) -> None:
    from audit.services.events import SYSTEM
    from sso.config import sso_settings
    from sso.services import sso_user_sync

    settings.AIRSPACE_OIDC_ROLE_MAP = "staff=clinician"
    claims = {
        "sub": "abc",
        "preferred_username": "Dr Jane O'Neil",
        "email": "not-an-email",
        "groups": "staff",
    }
    user, access = sso_user_sync(issuer="https://idp", claims=claims, config=sso_settings(), context=SYSTEM)
    assert user.username == "Dr-Jane-O-Neil" and user.email == "" and access.roles == {"clinician"}
