"""Input drift on the images: the worker's prediction records cheap statistics of the analysed image (from
the arrays it already decoded), and a window of images from a differently exposed site raises the audited
drift alarm with the link to calibrate, while more images of the same population do not."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from diagnosis.models import Study
from mlcore.input_drift import INPUT_STAT_NAMES, window_distance
from modelops.models import DriftAlert
from modelops.services.drift import drift_check
from modelops.services.image_drift import MIN_WINDOW, image_drift
from tests.conftest import xray_paths
from tests.diagnosis.factories import ImageFactory, PredictionFactory, StudyFactory
from tests.fixtures.pages import client_for, html
from tests.modelops.test_drift import site_profile  # noqa: F401  (the fixture)
from tests.modelops.test_lifecycle_live import shifted_copy

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def recorded_stats() -> dict[str, list[dict[str, float]]]:
    """The statistics the predictor records for the committed films, as shipped and as a flatter, brighter
    copy (another site's rendering)."""
    from tests.conftest import _session_predictor

    predictor = _session_predictor()
    films = xray_paths()
    return {
        "original": [predictor.predict(p.read_bytes()).input_stats for p in films],
        "shifted": [predictor.predict(shifted_copy(p)).input_stats for p in films],
    }


def predictions(profile, owner, stats: list[dict[str, float]], n: int) -> None:
    for i in range(n):
        study = StudyFactory(created_by=owner, status=Study.Status.COMPLETED)
        ImageFactory(study=study)
        PredictionFactory(
            study=study,
            model_version=profile.model_version,
            operating_profile=profile,
            probability=0.05 + 0.9 * (i % 10) / 9,
            threshold=profile.threshold,
            input_stats=stats[i % len(stats)],
        )


def test_each_prediction_records_the_image_statistics_and_a_shifted_rendering_moves_them(recorded_stats):
    original, shifted = recorded_stats["original"], recorded_stats["shifted"]
    assert set(original[0]) == set(INPUT_STAT_NAMES)
    assert all(0 <= row["mean"] <= 1 and row["std"] > 0 for row in original)
    mean = window_distance([r["mean"] for r in original], [r["mean"] for r in shifted])
    std = window_distance([r["std"] for r in original], [r["std"] for r in shifted])
    assert mean.psi > 0.25 and std.psi > 0.25 and min(mean.p_value, std.p_value) < 1e-3
    # The size and aspect are the film's, whatever its rendering.
    assert [r["log_aspect"] for r in original] == pytest.approx([r["log_aspect"] for r in shifted], abs=1e-3)


def test_a_shifted_window_of_images_raises_one_audited_image_drift_alert(
    site_profile,  # noqa: F811
    recorded_stats,
    alice,
    admin_user,
):
    predictions(site_profile, alice, recorded_stats["original"], MIN_WINDOW)
    assert image_drift(site_profile) is None  # no live window yet: nothing said
    predictions(site_profile, alice, recorded_stats["shifted"], MIN_WINDOW)
    report = image_drift(site_profile)
    assert report["reference_n"] == MIN_WINDOW and report["n"] == MIN_WINDOW
    assert {"mean", "std"} <= set(report["drifted"]) and "log_aspect" not in report["drifted"]
    alerts = [a for a in drift_check() if a.kind == DriftAlert.Kind.IMAGE_DRIFT]
    assert len(alerts) == 1 and alerts[0].observed["features"]["mean"]["psi"] > 0.25
    assert not [a for a in drift_check() if a.kind == DriftAlert.Kind.IMAGE_DRIFT]  # open: not raised twice
    event = AuditEvent.objects.get(action="drift.alert", after__kind="image_drift")
    assert event.object_id == str(site_profile.pk) and "mean" in event.after["drifted"]
    page = html(client_for(admin_user).get(reverse("monitoring")))
    assert "Input image statistics drift" in page and "Image statistics moved: " in page
    assert reverse("model-card") + "#profiles" in page


def test_more_images_of_the_same_population_raise_no_image_drift_alert(
    site_profile,  # noqa: F811
    recorded_stats,
    alice,
):
    original = recorded_stats["original"]
    predictions(site_profile, alice, original, MIN_WINDOW)
    predictions(site_profile, alice, original[::-1], MIN_WINDOW)
    assert image_drift(site_profile)["drifted"] == []
    drift_check()
    assert not DriftAlert.objects.filter(kind=DriftAlert.Kind.IMAGE_DRIFT).exists()
