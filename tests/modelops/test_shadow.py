"""Shadow mode without a worker: registering a candidate is validated, one shadow at a time, stop is audited,
the comparison waits for enough reads, and only admins reach the page and the API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from mlcore.bundle import load_bundle
from modelops.models import OperatingProfile, ShadowRun
from modelops.services.profiles import profile_active, profile_create
from modelops.services.shadow import shadow_start, shadow_stop
from modelops.services.shadow_report import shadow_comparison
from portal.errors import Conflict, DomainError
from tests.fixtures.api import token_client
from tests.fixtures.pages import client_for, html

pytestmark = pytest.mark.django_db


def candidate(bias: float = 1.0) -> OperatingProfile:
    """An inactive profile of the served version, shifted by `bias` toward pneumonia."""
    bundle = load_bundle(verify=False, serving=False)
    served = profile_active(bundle=bundle)
    return profile_create(
        model_version=bundle.version,
        temperature=served.temperature,
        bias=bias,
        threshold=0.5,
        band=(0.4, 0.6),
        target_sensitivity=0.95,
        source=OperatingProfile.Source.DATA,
        metrics={},
    )


def test_a_candidate_is_one_inactive_profile_of_the_served_model_and_one_shadow_runs_at_a_time(admin_user):
    profile = candidate()
    with pytest.raises(DomainError, match="Choose one candidate"):
        shadow_start(user=admin_user)
    with pytest.raises(DomainError, match="not another bundle"):
        shadow_start(user=admin_user, candidate_bundle=load_bundle(verify=False, serving=False).version)
    served = OperatingProfile.objects.get(active=True)
    with pytest.raises(DomainError, match="inactive profile of the served model"):
        shadow_start(user=admin_user, candidate_profile=served)
    shadow = shadow_start(user=admin_user, candidate_profile=profile)
    assert shadow.baseline_profile == served and shadow.status == "running"
    with pytest.raises(Conflict, match="already running"):
        shadow_start(user=admin_user, candidate_profile=profile)
    report = shadow_comparison(shadow)
    assert report["figures"] is None and "there are 0 and 0" in report["waiting_for"]
    shadow_stop(shadow=shadow, user=admin_user)
    assert ShadowRun.objects.get().status == "stopped"
    assert list(
        AuditEvent.objects.filter(action__startswith="shadow.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == [
        "shadow.start",
        "shadow.stop",
    ]


def test_only_admins_see_the_shadow_page_and_api(admin_user, carol, alice):
    assert client_for(carol).get(reverse("model-shadow")).status_code == 403
    assert token_client(alice).get("/api/v1/model/shadow/").status_code == 403
    assert token_client(admin_user).get("/api/v1/model/shadow/").json() == {"shadow": None}
    candidate()
    page = html(client_for(admin_user).get(reverse("model-shadow")))
    assert "Register a candidate" in page and "never sent to a PACS or the EHR" in page


def test_a_candidate_bundle_runs_its_own_forward_pass_and_promotion_serves_it(
    candidate_bundle, alice, admin_user, predictor
):
    from diagnosis.services.predictions import prediction_run
    from diagnosis.services.studies import StudyUpload, study_create
    from modelops.models import ServedBundle
    from modelops.selectors import active_bundle
    from modelops.services.shadow import candidate_bundles, shadow_promote, shadow_rollback, shadow_score
    from tests.conftest import xray_paths

    assert candidate_bundles() == [candidate_bundle]
    upload = StudyUpload(image_name="x.jpg", image_data=xray_paths()[-1].read_bytes(), patient_mrn="CB-1")
    study = study_create(user=alice, upload=upload).study
    served_profile = profile_active(bundle=predictor.bundle)
    served = prediction_run(study_id=study.id, predictor=predictor, operating_profile=served_profile)
    shadow = shadow_start(user=admin_user, candidate_bundle=candidate_bundle)
    scored = shadow_score(shadow_id=shadow.pk, prediction_id=served.pk)
    assert scored.model_version == "airspace-cnn-cand-2" and scored.profile.source == "bundle"
    assert scored.profile.model_version == "airspace-cnn-cand-2" and scored.total_ms > 0
    # Same weights, same bundle calibration: the same answer, from its own forward pass.
    assert scored.probability == pytest.approx(served.probability, abs=1e-5) and scored.label == served.label
    assert shadow_score(shadow_id=shadow.pk, prediction_id=served.pk) is None  # a redelivery: scored once
    # Promotion: the bundle is served (data, not a deployment); the page, API and health agree.
    shadow_promote(shadow=shadow, user=admin_user)
    assert ShadowRun.objects.get().status == "promoted"
    assert ServedBundle.objects.get(active=True).bundle == candidate_bundle
    assert active_bundle().version == "airspace-cnn-cand-2"
    assert token_client(alice).get("/api/v1/model/").json()["version"] == "airspace-cnn-cand-2"
    assert candidate_bundles() == [predictor.bundle.path.name]  # the old one is now the other
    event = AuditEvent.objects.get(action="bundle.serve")
    assert event.after["model_version"] == "airspace-cnn-cand-2"
    assert event.before["model_version"] == predictor.version
    shadow_rollback(shadow=ShadowRun.objects.get(), user=admin_user)
    assert not ServedBundle.objects.filter(active=True).exists()
    assert active_bundle().version == predictor.version
    actions = AuditEvent.objects.filter(action__in=["bundle.serve", "shadow.promote", "shadow.rollback"])
    assert list(actions.order_by("id").values_list("action", flat=True)) == [
        "bundle.serve",
        "shadow.promote",
        "bundle.serve",
        "shadow.rollback",
    ]


def test_promoting_a_folder_that_is_not_a_bundle_is_refused(candidate_bundle, admin_user):
    from modelops.models import ServedBundle
    from modelops.services.served_bundle import served_bundle_promote

    for folder in ("", "../models", "missing"):
        with pytest.raises(DomainError, match="not a bundle folder"):
            served_bundle_promote(folder=folder, user=admin_user)
    assert not ServedBundle.objects.exists()
