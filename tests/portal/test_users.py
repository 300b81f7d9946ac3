"""User management for admins in the portal: roles, scope of the pages, audit of every change, tokens."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from knox.models import AuthToken

from audit.models import AuditEvent
from diagnosis.models import Department
from portal.roles import roles_of
from portal.services.password_reset import password_reset_email
from portal.services.users import UserFields, user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def cardiology():
    return Department.objects.create(name="Cardiology")


def create(client, follow=False, **data):
    return client.post("/users/new/", {"first_name": "", "last_name": "", "email": "", **data}, follow=follow)


def test_only_admins_reach_user_management(client, alice, carol, nobody, admin_user):
    for user in (alice, carol, nobody):
        client.force_login(user)
        assert client.get("/users/").status_code == 403
        assert create(client, username="x", roles=["admin"]).status_code == 403
        assert client.post(f"/users/{admin_user.pk}/deactivate/").status_code == 403
    assert not User.objects.filter(username="x").exists()
    client.logout()
    assert client.get("/users/").status_code == 302  # to the login page


def test_admin_creates_a_radiologist_in_a_department_every_change_audited(client, admin_user, cardiology):
    client.force_login(admin_user)
    response = create(
        client,
        username="rita",
        first_name="Rita",
        last_name="Reader",
        email="rita@hospital.example",
        roles=["radiologist"],
        department=cardiology.pk,
    )
    rita = User.objects.get(username="rita")
    assert response.status_code == 302 and response["Location"] == f"/users/{rita.pk}/"
    assert roles_of(rita) == {"radiologist"} and rita.profile.department == cardiology
    assert not rita.has_usable_password() and rita.is_active
    events = {e.action: e for e in AuditEvent.objects.filter(object_type="user", object_id=str(rita.pk))}
    assert {"user.create", "user.roles_changed", "user.department_changed"} <= set(events)
    assert all(e.actor_username == "root-admin" for e in events.values())
    assert events["user.roles_changed"].after == {"roles": ["radiologist"]}
    listing = client.get("/users/?role=radiologist").content.decode()
    assert ">rita</a>" in listing and "Cardiology" in listing and ">root-admin</a>" not in listing


def test_bad_input_is_a_clear_400_never_a_500(client, admin_user, carol):
    client.force_login(admin_user)
    taken = create(client, username="CAROL", roles=["radiologist"])
    assert taken.status_code == 400 and "That username is taken." in taken.content.decode()
    for data in (
        {"username": "bad name!", "roles": ["admin"]},
        {"username": "ok", "roles": ["pilot"]},
        {"username": "ok2"},
        {"username": "ok3", "roles": ["admin"], "email": "not-an-email"},
    ):
        assert create(client, **data).status_code == 400, data
    assert client.get("/users/?active=maybe").status_code == 200  # a message, not a 500
    assert client.get("/users/999999/").status_code == 404


def test_change_role_and_department(client, admin_user, alice, cardiology):
    client.force_login(admin_user)
    response = client.post(
        f"/users/{alice.pk}/",
        {
            "first_name": "Alice",
            "last_name": "A",
            "email": "a@h.example",
            "roles": ["clinician", "radiologist"],
            "department": cardiology.pk,
        },
    )
    assert response.status_code == 302
    alice = User.objects.get(pk=alice.pk)
    assert roles_of(alice) == {"clinician", "radiologist"} and alice.profile.department == cardiology
    change = (
        AuditEvent.objects.filter(action="user.roles_changed", object_id=str(alice.pk)).order_by("id").last()
    )
    assert change.before == {"roles": ["clinician"]} and change.actor_username == "root-admin"


def test_an_admin_cannot_lock_themselves_out(client, admin_user):
    client.force_login(admin_user)
    assert client.post(f"/users/{admin_user.pk}/deactivate/").status_code == 302
    own = client.post(
        f"/users/{admin_user.pk}/", {"first_name": "", "last_name": "", "email": "", "roles": ["clinician"]}
    )
    assert own.status_code == 400 and "own admin role" in own.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active and roles_of(admin_user) == {"admin"}


def test_deactivation_revokes_tokens_and_sessions_and_is_audited(client, admin_user, carol):
    AuthToken.objects.create(user=carol)
    other = client.__class__()
    other.force_login(carol)
    assert other.get("/worklist/").status_code == 200
    client.force_login(admin_user)
    assert client.post(f"/users/{carol.pk}/deactivate/").status_code == 302
    carol.refresh_from_db()
    assert not carol.is_active and not AuthToken.objects.filter(user=carol).exists()
    assert other.get("/worklist/").status_code == 302  # the session no longer signs her in
    revoked = AuditEvent.objects.get(action="auth.tokens_revoked", object_id=str(carol.pk))
    assert revoked.reason == "account deactivated" and revoked.actor_username == "root-admin"
    change = AuditEvent.objects.filter(action="user.change", object_id=str(carol.pk)).order_by("id").last()
    assert change.after == {"is_active": False}
    assert client.post(f"/users/{carol.pk}/reactivate/").status_code == 302
    carol.refresh_from_db()
    assert carol.is_active


def test_reset_link_is_audited_sent_by_a_worker_task_and_sets_a_password_once(
    client, admin_user, django_capture_on_commit_callbacks
):
    rita = user_create(
        actor=admin_user,
        username="rita",
        fields=UserFields(
            first_name="Rita", last_name="", email="rita@h.example", roles=("radiologist",), department=None
        ),
    )
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks() as published:
        assert client.post(f"/users/{rita.pk}/password-reset/").status_code == 302
    # The request only queues the email, after its commit.
    assert [c for c in published if "password_reset_send" in c.__qualname__] and not mail.outbox
    assert AuditEvent.objects.get(action="user.password_reset_sent").after == {"email": "rita@h.example"}
    # What the worker task runs:
    assert password_reset_email(user_id=rita.pk, base_url="http://testserver/")
    link = re.search(r"http://testserver(/password/set/\S+/)", mail.outbox[0].body).group(1)
    client.logout()
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "Set your password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Xr4y-reading-room", "new_password2": "Xr4y-reading-room"},
    )
    assert done.status_code == 302
    signed_in = client.post("/login/", {"username": "rita", "password": "Xr4y-reading-room"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/"
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/worklist/"
    client.logout()
    assert "expired or was already used" in client.get(link, follow=True).content.decode()


def test_no_link_for_an_account_without_email(client, admin_user, carol):
    client.force_login(admin_user)
    response = client.post(f"/users/{carol.pk}/password-reset/", follow=True)
    assert "no email address" in response.content.decode()
    assert not AuditEvent.objects.filter(action="user.password_reset_sent").exists()


@pytest.fixture
def sso_site(settings):
    """Single sign-on configured (no provider is contacted: only the settings are read)."""
    settings.OIDC_RP_CLIENT_ID = "airspace"
    settings.AIRSPACE_OIDC_ISSUER = "https://idp.hospital.example"
    settings.AIRSPACE_OIDC_PROVIDER_NAME = "Hospital SSO"
    return settings


def _rita(admin_user, roles=("radiologist",)):
    fields = UserFields(first_name="Rita", last_name="", email="rita@h.example", roles=roles, department=None)
    return user_create(actor=admin_user, username="rita", fields=fields)


@pytest.mark.parametrize("policy", ["admins", "off"])
def test_a_reset_link_that_cannot_sign_in_is_flagged_on_the_page_the_flash_and_the_email(
    client, admin_user, sso_site, policy, django_capture_on_commit_callbacks
):
    sso_site.AIRSPACE_LOCAL_LOGIN = policy
    rita = _rita(admin_user)
    client.force_login(admin_user, backend="sso.backends.OidcBackend")  # the admin came in through SSO
    page = client.get(f"/users/{rita.pk}/").content.decode()
    assert 'id="reset-useless"' in page and f"AIRSPACE_LOCAL_LOGIN={policy}" in page
    assert "Hospital SSO" in page
    with django_capture_on_commit_callbacks(execute=False):
        sent = client.post(f"/users/{rita.pk}/password-reset/", follow=True).content.decode()
    assert "The link will not let rita sign in today." in sent and "on its way to rita" in sent
    assert AuditEvent.objects.filter(action="user.password_reset_sent", object_id=str(rita.pk)).exists()
    assert password_reset_email(user_id=rita.pk, base_url="http://testserver/")
    body = mail.outbox[0].body
    assert "Note: a password will not sign you in today." in body and f"AIRSPACE_LOCAL_LOGIN={policy}" in body
    assert "http://testserver/password/set/" in body  # still sent: the admin may be about to change it


def test_no_warning_where_the_password_signs_in(client, admin_user, sso_site):
    sso_site.AIRSPACE_LOCAL_LOGIN = "admins"
    root = _rita(admin_user, roles=("admin",))  # a break-glass account keeps its password under `admins`
    client.force_login(admin_user)
    assert 'id="reset-useless"' not in client.get(f"/users/{root.pk}/").content.decode()
    sso_site.AIRSPACE_LOCAL_LOGIN = "all"
    radiologist = User.objects.get(pk=root.pk)
    radiologist.groups.clear()
    assert 'id="reset-useless"' not in client.get(f"/users/{radiologist.pk}/").content.decode()
    assert password_reset_email(user_id=root.pk, base_url="http://testserver/")
    assert "Note:" not in mail.outbox[0].body


def test_creating_an_sso_user_says_they_sign_in_with_sso_not_a_password(client, admin_user, sso_site):
    sso_site.AIRSPACE_LOCAL_LOGIN = "admins"
    client.force_login(admin_user)
    created = create(client, username="sam", roles=["clinician"], follow=True).content.decode()
    assert "Created sam. This site signs in with Hospital SSO" in created
    assert "Send them a link to set a password." not in created
