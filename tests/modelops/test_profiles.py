"""Operating profiles: the bundle's own by default, one active per version, superseded never edited, the
safety rail, and the worker labelling with the active profile while past predictions keep theirs."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from diagnosis.models import Prediction
from diagnosis.services.predictions import prediction_run
from diagnosis.services.studies import StudyUpload, study_create
from mlcore.bundle import load_bundle
from modelops.models import OperatingProfile
from modelops.services.profiles import profile_activate, profile_active, profile_create
from portal.errors import DomainError
from tests.conftest import xray_paths

pytestmark = pytest.mark.django_db


def site_profile(
    version: str, *, threshold: float, sensitivity: float = 0.97, target: float = 0.95, bias: float = -0.4
):
    return profile_create(
        model_version=version,
        temperature=1.3,
        bias=bias,
        threshold=threshold,
        band=(threshold - 0.05, threshold + 0.05),
        target_sensitivity=target,
        source=OperatingProfile.Source.REVIEWS,
        metrics={"after": {"sensitivity": {"value": sensitivity, "ci_low": 0.9, "ci_high": 0.99}}},
    )


def test_the_bundle_profile_is_created_once_as_the_default():
    bundle = load_bundle(verify=False, serving=False)
    first = profile_active(bundle=bundle)
    assert profile_active(bundle=bundle).pk == first.pk
    assert first.active and first.source == "bundle" and first.bias == 0.0
    assert (first.temperature, first.threshold) == (bundle.metadata.temperature, bundle.metadata.threshold)
    assert first.band == tuple(bundle.metadata.indeterminate_band)
    assert AuditEvent.objects.filter(action="profile.create", object_id=str(first.pk)).count() == 1


def test_the_database_refuses_a_second_active_profile_for_one_version():
    bundle = load_bundle(verify=False, serving=False)
    active = profile_active(bundle=bundle)
    twin = OperatingProfile(
        model_version=active.model_version,
        temperature=1.0,
        threshold=0.5,
        indeterminate_low=0.4,
        indeterminate_high=0.6,
        source="reviews",
        active=True,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


def test_activation_supersedes_and_is_audited(admin_user):
    bundle = load_bundle(verify=False, serving=False)
    default = profile_active(bundle=bundle)
    proposed = site_profile(default.model_version, threshold=0.6)
    assert proposed.supersedes_id == default.pk and not proposed.active
    profile_activate(profile=proposed, user=admin_user)
    default.refresh_from_db()
    assert not default.active and OperatingProfile.objects.get(pk=proposed.pk).active
    event = AuditEvent.objects.get(action="profile.activate", object_id=str(proposed.pk))
    assert event.actor == admin_user and event.before == {"active_profile": default.pk}
    # The old profile's numbers are untouched: superseded, never edited.
    assert (default.threshold, default.source) == (bundle.metadata.threshold, "bundle")


def test_a_profile_below_its_target_sensitivity_needs_an_override_reason(admin_user):
    bundle = load_bundle(verify=False, serving=False)
    profile_active(bundle=bundle)
    risky = site_profile(bundle.version, threshold=0.6, sensitivity=0.91)
    with pytest.raises(DomainError) as refused:
        profile_activate(profile=risky, user=admin_user)
    assert refused.value.code == "override_reason_required" and "0.910" in refused.value.message
    assert not OperatingProfile.objects.get(pk=risky.pk).active
    profile_activate(profile=risky, user=admin_user, override_reason="specificity matters more this winter")
    event = AuditEvent.objects.get(action="profile.activate", object_id=str(risky.pk))
    assert event.after["override"] is True and event.reason == "specificity matters more this winter"


def test_new_predictions_use_the_active_profile_and_old_ones_keep_theirs(alice, admin_user, predictor):
    from modelops.services.predictor import predictor_with_profile  # noqa: F401  (the worker's entry point)

    data = xray_paths()[0].read_bytes()

    def run(mrn: str, profile: OperatingProfile) -> Prediction:
        upload = StudyUpload(image_name="x.jpg", image_data=data, patient_mrn=mrn)
        study = study_create(user=alice, upload=upload).study
        profiled = predictor.with_operating_point(
            temperature=profile.temperature, bias=profile.bias, threshold=profile.threshold, band=profile.band
        )
        return prediction_run(study_id=study.id, predictor=profiled, operating_profile=profile)

    default = profile_active(bundle=predictor.bundle)
    before = run("P-1", default)
    # A site profile shifted far toward pneumonia changes the next label, not the last.
    lenient = site_profile(predictor.version, threshold=0.5, sensitivity=1.0, bias=30.0)
    profile_activate(profile=lenient, user=admin_user)
    after = run("P-2", profile_active(bundle=predictor.bundle))
    before.refresh_from_db()
    assert before.operating_profile_id == default.pk and after.operating_profile_id == lenient.pk
    assert before.label == "NORMAL" and after.threshold == 0.5 and after.label == "PNEUMONIA"
    assert after.logit == pytest.approx(before.logit)
    assert before.threshold == default.threshold
    recorded = AuditEvent.objects.get(action="prediction.create", object_id=str(after.id))
    assert recorded.after["operating_profile"] == lenient.pk
    # The study page says which profile produced each label.
    from django.urls import reverse

    from tests.fixtures.pages import client_for, html

    page = html(client_for(alice).get(reverse("study-detail", args=[after.study_id])))
    assert f"#{lenient.pk} · Fitted on this site" in page
    old_page = html(client_for(alice).get(reverse("study-detail", args=[before.study_id])))
    assert f"#{default.pk} · The bundle" in old_page


def test_the_model_info_api_names_the_active_profile(carol, admin_user, settings):
    from tests.fixtures.api import token_client

    settings.AIRSPACE_MODEL_BUNDLE = None
    assert token_client(carol).get("/api/v1/model/").json()["operating_profile"] is None
    bundle = load_bundle(verify=False, serving=False)
    profile_active(bundle=bundle)
    site = site_profile(bundle.version, threshold=0.6)
    profile_activate(profile=site, user=admin_user)
    body = token_client(carol).get("/api/v1/model/").json()
    assert body["operating_profile"]["id"] == site.pk and body["operating_profile"]["threshold"] == 0.6
    assert body["threshold"] == bundle.metadata.threshold  # the bundle's own, unchanged


def test_the_database_refuses_to_edit_a_profile_but_lets_it_be_superseded(services, admin_user):
    from django.db import DatabaseError

    bundle = load_bundle(verify=False, serving=False)
    default = profile_active(bundle=bundle)
    with pytest.raises(DatabaseError, match="never edited"), transaction.atomic():
        OperatingProfile.objects.filter(pk=default.pk).update(threshold=0.1)
    profile_activate(profile=site_profile(bundle.version, threshold=0.6), user=admin_user)
    default.refresh_from_db()
    assert not default.active and default.threshold == bundle.metadata.threshold
