"""Drift alarms: live sensitivity below the active profile's expected interval, and output drift, raise one
audited admin alert each, shown on the monitoring page with a link to calibrate; acknowledging is audited."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from diagnosis.models import Label, Study
from mlcore.calibration import label_confidence
from modelops.models import DriftAlert, OperatingProfile
from modelops.services.drift import drift_check, live_figures
from modelops.services.profiles import profile_activate, profile_create
from reading.services.reviews import review_submit
from tests.diagnosis.factories import ImageFactory, PredictionFactory, StudyFactory
from tests.fixtures.pages import client_for, html

pytestmark = pytest.mark.django_db


@pytest.fixture
def site_profile(admin_user) -> OperatingProfile:
    """An active site profile justified by sensitivity 0.90-0.99 and specificity 0.80-0.95, whose outputs
    were spread evenly."""
    profile = profile_create(
        model_version="airspace-cnn-1.0.0",
        temperature=1.0,
        bias=0.0,
        threshold=0.5,
        band=(0.45, 0.55),
        target_sensitivity=0.95,
        source=OperatingProfile.Source.REVIEWS,
        metrics={
            "after": {
                "sensitivity": {"value": 0.95, "ci_low": 0.90, "ci_high": 0.99},
                "specificity": {"value": 0.88, "ci_low": 0.80, "ci_high": 0.95},
            },
            "reference_histogram": {"bins": [i / 10 for i in range(11)], "counts": [10] * 10},
        },
    )
    return profile_activate(profile=profile, user=admin_user)


def labelled(profile, owner, reader, *, probability: float, truth: str | None, n: int) -> None:
    """n completed studies labelled by the profile at `probability`, read as `truth` (unread if None)."""
    for _ in range(n):
        study = StudyFactory(created_by=owner, status=Study.Status.COMPLETED)
        ImageFactory(study=study)
        label = Label.PNEUMONIA if probability >= profile.threshold else Label.NORMAL
        PredictionFactory(
            study=study,
            model_version=profile.model_version,
            operating_profile=profile,
            probability=probability,
            threshold=profile.threshold,
            label=label,
            confidence=label_confidence(probability, label),
        )
        if truth:
            decision = "agree" if truth == label else "override"
            reason = "" if decision == "agree" else "missed_finding"
            review_submit(user=reader, study=study, decision=decision, final_label=truth, reason=reason)


def test_missed_pneumonias_raise_one_audited_sensitivity_alert(site_profile, alice, carol, admin_user):
    labelled(site_profile, alice, carol, probability=0.8, truth="PNEUMONIA", n=14)
    labelled(site_profile, alice, carol, probability=0.2, truth="PNEUMONIA", n=8)
    live = live_figures(site_profile)
    assert live["sensitivity"]["n"] == 22 and live["sensitivity"]["value"] == pytest.approx(14 / 22)
    (alert,) = drift_check()
    assert alert.kind == "sensitivity" and alert.observed["expected"] == [0.90, 0.99]
    assert drift_check() == []  # still open: not raised twice
    event = AuditEvent.objects.get(action="drift.alert")
    assert event.object_id == str(site_profile.pk) and event.after["kind"] == "sensitivity"
    # The monitoring page shows it with the way out; only an admin may acknowledge it.
    page = html(client_for(admin_user).get(reverse("monitoring")))
    assert (
        "Live sensitivity below the expected interval" in page and reverse("model-card") + "#profiles" in page
    )
    assert client_for(carol).post(reverse("monitoring-alert-acknowledge", args=[alert.pk])).status_code == 403
    response = client_for(admin_user).post(reverse("monitoring-alert-acknowledge", args=[alert.pk]))
    assert response.status_code == 302 and DriftAlert.objects.get(pk=alert.pk).acknowledged_by == admin_user
    assert AuditEvent.objects.filter(action="drift.acknowledge", actor=admin_user).exists()


def test_too_few_reads_raise_nothing(site_profile, alice, carol):
    labelled(site_profile, alice, carol, probability=0.2, truth="PNEUMONIA", n=10)
    assert drift_check() == [] and not DriftAlert.objects.exists()


def test_outputs_piling_up_in_one_bin_raise_an_input_drift_alert(site_profile, alice, carol):
    labelled(site_profile, alice, carol, probability=0.97, truth=None, n=60)
    out = io.StringIO()
    call_command("drift_check", stdout=out)
    alert = DriftAlert.objects.get()
    assert alert.kind == "input_drift" and alert.observed["psi"] > 0.25 and alert.observed["n"] == 60
    assert (
        out.getvalue().startswith("Raised 1 new alert(s).") and "Input distribution drift" in out.getvalue()
    )
