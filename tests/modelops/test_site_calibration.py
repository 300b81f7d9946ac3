"""Site calibration: the maths (mlcore, no Django) and `manage.py site_calibrate` on reads and on a folder."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from diagnosis.models import Label, Study
from mlcore.bundle import load_bundle
from mlcore.calibration import label_confidence, profile_probability
from mlcore.site_calibration import (
    MIN_PER_CLASS,
    FitSettings,
    SiteProfile,
    TooFewReads,
    calibrate_site,
    fit_temperature_bias,
    patient_folds,
)
from modelops.models import CalibrationRun, OperatingProfile
from modelops.services.calibration_runs import calibration_run
from modelops.services.profiles import profile_active
from reading.services.reviews import review_submit
from tests.conftest import FIXTURE_XRAYS
from tests.diagnosis.factories import ImageFactory, PredictionFactory, StudyFactory


def shifted_population(n: int = 120, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits of a site where the model is over-confident and biased toward pneumonia."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.6).astype(int)
    true_score = np.where(y == 1, 1.5, -1.5) + rng.normal(0, 1.2, n)
    return 3.0 * true_score + 4.0, y, np.array([f"p{i // 2}" for i in range(n)])


def test_temperature_and_bias_are_recovered_from_a_known_distortion():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 4000)
    y = (rng.random(4000) < profile_probability(z, 2.0, -1.0)).astype(int)
    temperature, bias = fit_temperature_bias(z, y)
    assert temperature == pytest.approx(2.0, rel=0.15) and bias == pytest.approx(-1.0, abs=0.2)


def test_patients_stay_in_one_fold_and_every_fold_has_both_classes():
    z, y, g = shifted_population()
    folds = patient_folds(g, y, 5, seed=0)
    for patient in np.unique(g):
        assert np.unique(folds[g == patient]).size == 1
    for k in range(5):
        assert set(y[folds == k]) == {0, 1}


def test_calibration_on_a_shifted_site_improves_ece_out_of_sample():
    z, y, g = shifted_population()
    shipped = SiteProfile(temperature=1.0, bias=0.0, threshold=0.5, low=0.4, high=0.6)
    result = calibrate_site(z, y, g, shipped, FitSettings(), resamples=200)
    before, after = result["before"], result["after"]
    assert after["ece"]["value"] < before["ece"]["value"]
    assert after["specificity"]["value"] > before["specificity"]["value"]
    for figure in ("sensitivity", "specificity", "ece", "indeterminate_share"):
        cell = after[figure]
        assert cell["ci_low"] <= cell["value"] <= cell["ci_high"]
    assert result["sample"] == {
        "normal": int((y == 0).sum()),
        "pneumonia": int(y.sum()),
        "reads": 120,
        "patients": 60,
    }
    assert result["method"]["folds"] == 5


def test_too_few_reads_of_a_class_says_how_many_are_needed():
    z, y, g = shifted_population()
    keep = np.flatnonzero(y == 1)[:50].tolist() + np.flatnonzero(y == 0)[: MIN_PER_CLASS - 1].tolist()
    shipped = SiteProfile(1.0, 0.0, 0.5, 0.4, 0.6)
    with pytest.raises(TooFewReads, match=f"at least {MIN_PER_CLASS} NORMAL and {MIN_PER_CLASS} PNEUMONIA"):
        calibrate_site(z[keep], y[keep], g[keep], shipped)


def reviewed_prediction(reader, owner, version: str, logit: float, truth: str, patient_no: int) -> None:
    """A completed study of `version` (probability from the bundle temperature) signed with `truth`."""
    bundle = load_bundle(verify=False, serving=False)
    p = float(profile_probability(np.array([logit]), bundle.metadata.temperature)[0])
    threshold = bundle.metadata.threshold
    label = Label.PNEUMONIA if p >= threshold else Label.NORMAL
    study = StudyFactory(created_by=owner, status=Study.Status.COMPLETED, patient__mrn=f"CAL-{patient_no}")
    ImageFactory(study=study)
    PredictionFactory(
        study=study,
        model_version=version,
        probability=p,
        threshold=threshold,
        label=label,
        confidence=label_confidence(p, label),
        logit=logit,
    )
    decision = "agree" if truth == label else "override"
    reason = "" if decision == "agree" else ("missed_finding" if truth == "PNEUMONIA" else "false_alarm")
    review_submit(user=reader, study=study, decision=decision, final_label=truth, reason=reason)


@pytest.fixture
def site_reads(carol, alice):
    """60 signed reads of the shipped version, from a site where the model is over-confident."""
    version = load_bundle(verify=False, serving=False).version
    z, y, _ = shifted_population(n=60)
    for i, (logit, truth) in enumerate(zip(z, y, strict=True)):
        reviewed_prediction(carol, alice, version, float(logit), "PNEUMONIA" if truth else "NORMAL", i)
    return version


@pytest.mark.django_db
def test_site_calibrate_from_reviews_proposes_then_activates(site_reads, admin_user):
    out = io.StringIO()
    call_command("site_calibrate", "--from-reviews", "--user", admin_user.username, stdout=out)
    proposed = OperatingProfile.objects.get(source="reviews")
    assert not proposed.active and proposed.created_by == admin_user
    text = out.getvalue()
    assert f"Profile #{proposed.pk}" in text and "proposed (not active)" in text
    assert "sensitivity" in text and "ece" in text and "cross-validation over patients" in text
    assert proposed.metrics["sample"]["reads"] == 60 and proposed.metrics["after"]["ece"]["ci_high"] >= 0
    assert AuditEvent.objects.filter(action="profile.create", object_id=str(proposed.pk)).exists()
    call_command(
        "site_calibrate", "--from-reviews", "--activate", "--override-reason", "pilot", stdout=io.StringIO()
    )
    active = OperatingProfile.objects.get(model_version=site_reads, active=True)
    assert active.source == "reviews" and active.pk != proposed.pk
    assert AuditEvent.objects.filter(action="profile.activate", object_id=str(active.pk)).exists()


@pytest.mark.django_db
def test_site_calibrate_refuses_too_few_reads_and_a_future_since(carol, alice):
    version = load_bundle(verify=False, serving=False).version
    for i in range(5):
        reviewed_prediction(carol, alice, version, 2.0, "PNEUMONIA", i)
    with pytest.raises(CommandError, match=f"at least {MIN_PER_CLASS} NORMAL"):
        call_command("site_calibrate", "--from-reviews", stdout=io.StringIO())
    with pytest.raises(CommandError, match="there are 0 NORMAL and 0 PNEUMONIA"):
        call_command("site_calibrate", "--from-reviews", "--since", "2999-01-01", stdout=io.StringIO())
    assert not OperatingProfile.objects.exclude(source="bundle").exists()


@pytest.mark.django_db
def test_the_safety_rail_needs_an_override_reason_from_the_command(site_reads):
    # Demanding 0.99 sensitivity of a profile fitted for 0.5 ... the rail compares its own target.
    with pytest.raises(CommandError, match="needs an explicit override reason"):
        call_command(
            "site_calibrate",
            "--from-reviews",
            "--target-sensitivity",
            "0.99",
            "--activate",
            stdout=io.StringIO(),
        )
    assert OperatingProfile.objects.get(model_version=site_reads, active=True).source == "bundle"


@pytest.mark.django_db
def test_site_calibrate_on_a_labelled_folder(admin_user):
    out = io.StringIO()
    call_command(
        "site_calibrate", "--data", str(FIXTURE_XRAYS), "--activate", "--override-reason", "x", stdout=out
    )
    profile = OperatingProfile.objects.get(source="data")
    assert profile.active and profile.metrics["reads"]["data"] == str(FIXTURE_XRAYS)
    assert profile.metrics["sample"]["normal"] == 20 and profile.metrics["sample"]["pneumonia"] == 20
    assert profile.supersedes == OperatingProfile.objects.get(source="bundle")
    assert profile_active(bundle=load_bundle(verify=False, serving=False)).pk == profile.pk
    with pytest.raises(CommandError, match="NORMAL/ and PNEUMONIA/"):
        call_command("site_calibrate", "--data", str(FIXTURE_XRAYS / "NORMAL"), stdout=io.StringIO())


@pytest.mark.django_db
def test_the_model_page_calibrates_shows_the_figures_then_activates_on_confirm(
    site_reads, admin_user, carol, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from tests.fixtures.pages import assert_no_inline_code, client_for, html

    admin = client_for(admin_user)
    page = html(admin.get(reverse("model-card")))
    assert "Calibrate from reads" in page and "Operating profiles at this site" in page
    assert "Calibrate from reads" not in html(client_for(carol).get(reverse("model-card")))
    # Any other role is refused every step.
    assert client_for(carol).post(reverse("model-calibrate")).status_code == 403
    # The button queues the fit for a worker (never inside the web request) and opens a page that waits.
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin.post(reverse("model-calibrate"), {"target_sensitivity": "0.95", "since": ""})
    run = CalibrationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("model-calibration", args=[run.pk])
    assert any("calibration_request" in c.__qualname__ for c in queued)
    assert not OperatingProfile.objects.filter(source="reviews").exists()
    waiting = html(admin.get(response["Location"]))
    assert "Waiting for a worker" in waiting and 'http-equiv="refresh"' in waiting
    assert_no_inline_code(waiting)
    assert client_for(carol).get(response["Location"]).status_code == 403
    calibration_run(run_id=run.pk)  # what the worker's task does
    assert calibration_run(run_id=run.pk) is None  # a redelivered message: already taken
    proposed = OperatingProfile.objects.get(source="reviews")
    assert CalibrationRun.objects.get().profile == proposed
    response = admin.get(reverse("model-calibration", args=[run.pk]))
    assert response.status_code == 302 and response["Location"] == reverse(
        "model-profile", args=[proposed.pk]
    )
    detail = html(admin.get(response["Location"]))
    assert_no_inline_code(detail)
    assert "Before and after, out of sample" in detail and "Calibration error (ECE)" in detail
    assert f"{proposed.metrics['after']['ece']['value']:.3f}" in detail
    assert client_for(carol).get(reverse("model-profile", args=[proposed.pk])).status_code == 403
    assert client_for(carol).post(reverse("model-profile-activate", args=[proposed.pk])).status_code == 403
    assert not OperatingProfile.objects.get(pk=proposed.pk).active
    confirmed = admin.post(
        reverse("model-profile-activate", args=[proposed.pk]), {"override_reason": "pilot"}
    )
    assert confirmed.status_code == 302 and OperatingProfile.objects.get(pk=proposed.pk).active
    event = AuditEvent.objects.get(action="profile.activate", object_id=str(proposed.pk))
    assert event.actor == admin_user


@pytest.mark.django_db
def test_the_model_page_explains_a_refused_calibration(admin_user):
    from django.urls import reverse

    from tests.fixtures.pages import client_for, html

    admin = client_for(admin_user)
    response = admin.post(reverse("model-calibrate"), {"target_sensitivity": "2"}, follow=True)
    assert "target sensitivity must be at least 0.5" in html(response)
    response = admin.post(reverse("model-calibrate"), {"target_sensitivity": "0.95"})
    calibration_run(run_id=CalibrationRun.objects.get().pk)
    page = html(admin.get(response["Location"]))
    assert f"at least {MIN_PER_CLASS} NORMAL and {MIN_PER_CLASS} PNEUMONIA reads" in page and "Failed" in page
    assert 'http-equiv="refresh"' not in page
    assert not OperatingProfile.objects.exclude(source="bundle").exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_calibrate_button_is_fitted_by_the_real_worker_while_the_page_waits(
    site_reads, celery_worker, admin_user
):
    import time

    from django.urls import reverse

    from tests.fixtures.pages import client_for, html

    admin = client_for(admin_user)
    response = admin.post(reverse("model-calibrate"), {"target_sensitivity": "0.95"})
    run = CalibrationRun.objects.get()
    assert response.status_code == 302 and run.status in ("pending", "running", "done")
    deadline = time.monotonic() + 120
    while CalibrationRun.objects.get().status in ("pending", "running"):
        assert time.monotonic() < deadline, "the worker never fitted the calibration"
        time.sleep(0.3)
    run = CalibrationRun.objects.get()
    assert run.status == "done" and run.profile.source == "reviews" and not run.profile.active
    assert run.profile.created_by == admin_user and run.finished_at > run.created_at
    followed = admin.get(reverse("model-calibration", args=[run.pk]), follow=True)
    assert "Before and after, out of sample" in html(followed)
    assert AuditEvent.objects.filter(action="calibration.request", actor=admin_user).exists()
