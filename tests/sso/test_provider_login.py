"""Sign-in through a real OpenID Connect provider process (django-oauth-toolkit on loopback).

Rita (provider group airspace-radiologists) lands as a radiologist; Cleo as a clinician of Paediatrics;
Nora's groups map to nothing, so she signs in and sees nothing. Roles re-sync on every login.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from audit.models import AuditEvent
from sso.models import SsoIdentity
from tests.sso.conftest import configure_sso, provider_login

pytestmark = pytest.mark.django_db(transaction=False)


def roles(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_radiologist_signs_in_lands_on_the_worklist_and_is_audited(sso_on: Any) -> None:
    client = Client()
    answer = provider_login(client, "rita")
    assert answer.status_code == 302 and answer["Location"] == "/"
    user = User.objects.get(sso_identity__subject__isnull=False, username="rita")
    assert roles(user) == {"radiologist"}
    assert (user.first_name, user.email, user.has_usable_password()) == ("Rita", "rita@idp.test", False)
    identity = SsoIdentity.objects.get(user=user)
    assert identity.issuer == sso_on.issuer and identity.last_login_at is not None
    assert client.get("/worklist/").status_code == 200
    events = list(
        AuditEvent.objects.filter(object_type="user", object_id=str(user.pk))
        .order_by("id")
        .values_list("action", "reason")
    )
    assert [action for action, _ in events] == [
        "user.create",
        "sso.identity_link",
        "user.roles_changed",
        "auth.login",
    ]
    assert events[-1] == ("auth.login", "single sign-on")
    changed = AuditEvent.objects.get(object_id=str(user.pk), action="user.roles_changed")
    assert (changed.before, changed.after) == ({"roles": []}, {"roles": ["radiologist"]})


def test_clinician_gets_the_mapped_department(sso_on: Any) -> None:
    client = Client()
    provider_login(client, "cleo")
    user = User.objects.get(username="cleo")
    assert roles(user) == {"clinician"} and user.profile.department.name == "Paediatrics"
    assert AuditEvent.objects.filter(action="department.create", after__name="Paediatrics").exists()
    assert client.get("/worklist/").status_code == 403  # clinicians have no worklist


def test_second_login_resyncs_roles_from_the_claims(sso_on: Any, settings: Any) -> None:
    provider_login(Client(), "rita")
    user = User.objects.get(username="rita")
    # A role granted by hand in Airspace does not survive the next login; a changed mapping applies.
    user.groups.add(Group.objects.get_or_create(name="admin")[0])
    configure_sso(settings, sso_on, AIRSPACE_OIDC_ROLE_MAP="airspace-radiologists=clinician")
    client = Client()
    provider_login(client, "rita")
    assert User.objects.filter(username__startswith="rita").count() == 1
    assert roles(User.objects.get(username="rita")) == {"clinician"}
    last = AuditEvent.objects.filter(
        action="user.roles_changed", object_type="user", object_id=str(user.pk)
    ).order_by("-id")
    assert [(e.before, e.after) for e in last[:2]] == [
        ({"roles": []}, {"roles": ["clinician"]}),
        ({"roles": ["admin", "radiologist"]}, {"roles": []}),
    ]
    assert client.get("/worklist/").status_code == 403


def test_unmapped_user_signs_in_with_no_role_and_sees_nothing(sso_on: Any, alice: Any) -> None:
    client = Client()
    answer = provider_login(client, "nora")
    assert answer.status_code == 302
    user = User.objects.get(username="nora")
    assert roles(user) == set() and not hasattr(user, "profile")
    assert client.get("/worklist/").status_code == 403
    refused = client.get("/api/v1/studies/")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert AuditEvent.objects.filter(action="auth.login", actor=user, reason="single sign-on").exists()


def test_provider_account_never_takes_over_a_local_account_of_the_same_name(
    sso_on: Any, admin_user: Any
) -> None:
    provider_login(Client(), "root-admin")
    linked = SsoIdentity.objects.get(subject__isnull=False, user__email="impostor@idp.test").user
    assert linked.pk != admin_user.pk and linked.username == "root-admin-2"
    assert roles(linked) == {"clinician"} and roles(admin_user) == {"admin"}


def test_callback_with_a_forged_state_is_refused(sso_on: Any) -> None:
    client = Client()
    client.get("/oidc/authenticate/")  # a real state is in the session; the attacker's is not
    answer = client.get("/oidc/callback/?code=stolen&state=forged")
    assert answer.status_code == 400
    assert "_auth_user_id" not in client.session


def test_password_form_with_code_and_state_never_reaches_the_provider(sso_on: Any, carol: Any) -> None:
    """Every backend sees a password login; only the callback (which checked state) may exchange a code."""
    answer = Client().post("/login/?code=x&state=y", {"username": "nobody-here", "password": "x"})
    assert answer.status_code == 200 and "_auth_user_id" not in answer.client.session


def test_refused_code_sends_the_browser_back_to_the_login_page_and_is_audited(sso_on: Any) -> None:
    client = Client()
    state = parse_qs(urlsplit(client.get("/oidc/authenticate/")["Location"]).query)["state"][0]
    answer = client.get(f"/oidc/callback/?code=never-issued&state={state}")  # the provider answers 400
    assert answer.status_code == 302 and answer["Location"] == "/login/?sso=failed"
    assert "_auth_user_id" not in client.session
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.reason == "single sign-on did not complete"
    assert "Single sign-on did not complete" in client.get(answer["Location"]).content.decode()


def test_unreachable_provider_is_a_message_not_a_server_error(settings: Any, sso_on: Any) -> None:
    configure_sso(settings, sso_on, AIRSPACE_OIDC_ISSUER="http://127.0.0.1:9/o")  # nothing listens on 9
    answer = Client().get("/oidc/authenticate/")
    assert answer.status_code == 302 and answer["Location"] == "/login/?sso=failed"


def test_deep_link_survives_the_round_trip_and_a_deactivated_user_is_refused(sso_on: Any) -> None:
    """A link from the EHR to the worklist lands there after sign-in; an account disabled here stays out."""
    client = Client()
    assert (
        provider_login(client, "rita", start="/oidc/authenticate/?next=/worklist/")["Location"]
        == "/worklist/"
    )
    evil = provider_login(Client(), "rita", start="/oidc/authenticate/?next=https://evil.example/")
    assert evil["Location"] == "/"
    User.objects.filter(username="rita").update(is_active=False)
    assert client.get("/worklist/").status_code == 302  # the open session no longer loads her
    refused = Client()
    assert provider_login(refused, "rita")["Location"] == "/login/?sso=failed"
    assert "_auth_user_id" not in refused.session
