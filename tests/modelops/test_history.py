"""The lifecycle history on the model and shadow pages and in the API: which bundle and which operating profile
served when, newest first, read from the audit trail; admins only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from modelops.models import OperatingProfile, ShadowRun
from modelops.selectors import lifecycle_history
from modelops.services.shadow import shadow_promote, shadow_rollback, shadow_start
from tests.fixtures.api import token_client
from tests.fixtures.pages import assert_no_inline_code, client_for, html
from tests.modelops.test_shadow import candidate

pytestmark = pytest.mark.django_db
API = "/api/v1/model/history/"


def test_a_profile_promotion_then_its_rollback_show_newest_first_on_the_pages_and_api(admin_user):
    profile = candidate()
    baseline = OperatingProfile.objects.get(active=True)  # the bundle's own, made by candidate()
    admin = client_for(admin_user)
    admin.post(reverse("model-shadow-start"), {"candidate": f"profile:{profile.pk}"})
    shadow = ShadowRun.objects.get()
    admin.post(reverse("model-shadow-promote", args=[shadow.pk]), {"override_reason": "pilot at site A"})
    admin.post(reverse("model-shadow-rollback", args=[shadow.pk]))
    assert OperatingProfile.objects.get(active=True) == baseline

    history = lifecycle_history()
    assert [(h.change, h.via) for h in history] == [
        ("profile.activate", f"shadow #{shadow.pk} rollback"),
        ("profile.activate", f"shadow #{shadow.pk} promote"),
        ("profile.default", ""),
    ]
    rollback, promote, default = history
    assert promote.before == f"profile #{baseline.pk}" and promote.after.startswith(
        f"profile #{profile.pk} of "
    )
    assert promote.actor == admin_user.get_username() and promote.reason == "pilot at site A"
    assert rollback.before == f"profile #{profile.pk}" and rollback.after.startswith(
        f"profile #{baseline.pk} "
    )
    assert rollback.reason == "rollback of a promotion" and rollback.at >= promote.at >= default.at
    assert default.actor == "system" and default.before.startswith("none")

    for page_name in ("model-card", "model-shadow"):
        page = html(admin.get(reverse(page_name)))
        assert_no_inline_code(page)
        assert 'id="history-h">History' in page and "pilot at site A" in page
        assert page.index(f"shadow #{shadow.pk} rollback") < page.index(f"shadow #{shadow.pk} promote")

    body = token_client(admin_user).get(API).json()["history"]
    assert [(h["change"], h["via"], h["reason"]) for h in body] == [
        ("profile.activate", f"shadow #{shadow.pk} rollback", "rollback of a promotion"),
        ("profile.activate", f"shadow #{shadow.pk} promote", "pilot at site A"),
        (
            "profile.default",
            "",
            "the bundle's own calibration, the default until a site profile is activated",
        ),
    ]
    assert body[1]["actor"] == admin_user.get_username() and body[0]["at"] >= body[1]["at"]


def test_a_bundle_promotion_then_its_rollback_name_the_bundles(candidate_bundle, admin_user):
    from modelops.models import ServedBundle

    shadow = shadow_start(user=admin_user, candidate_bundle=candidate_bundle)
    shadow_promote(shadow=shadow, user=admin_user, override_reason="better AUC on the site's reads")
    promoted = ServedBundle.objects.get()
    shadow_rollback(shadow=ShadowRun.objects.get(), user=admin_user)

    bundle_changes = [h for h in lifecycle_history() if h.change == "bundle.serve"]
    assert [h.via for h in bundle_changes] == [
        f"shadow #{shadow.pk} rollback",
        f"shadow #{shadow.pk} promote",
    ]
    rollback, promote = bundle_changes
    served = f"{shadow.served_version}: the deployment default"
    candidate_served = f"airspace-cnn-cand-2: bundle {candidate_bundle} (promotion #{promoted.pk})"
    assert (promote.before, promote.after, promote.reason) == (
        served,
        candidate_served,
        "better AUC on the site's reads",
    )
    assert (rollback.before, rollback.after) == (candidate_served, served)
    body = token_client(admin_user).get(API).json()["history"]
    assert [h["after"] for h in body if h["change"] == "bundle.serve"] == [served, candidate_served]


def test_only_admins_see_the_history(admin_user, alice, carol):
    candidate()  # the bundle's own profile: one entry
    assert len(lifecycle_history()) == 1
    for user in (alice, carol):
        assert token_client(user).get(API).status_code == 403
        assert client_for(user).get(reverse("model-shadow")).status_code == 403
        page = html(client_for(user).get(reverse("model-card")))  # the card itself is for every role
        assert "History" not in page and "Bundle's own profile" not in page
    assert token_client(None).get(API).status_code == 401
    assert len(token_client(admin_user).get(API).json()["history"]) == 1
    assert "Bundle's own profile" in html(client_for(admin_user).get(reverse("model-card")))
