"""Model monitoring: hand-computed kappa / sensitivity / specificity / Wilson / PSI, the report, API, page."""

from __future__ import annotations

import datetime as dt
import json
import math
from datetime import timedelta

import pytest
from django.utils import timezone

from diagnosis.models import Prediction, Study
from modelops.services.monitoring import monitoring_report
from modelops.services.monitoring_stats import (
    Confusion,
    cohen_kappa,
    histogram,
    ks_distance,
    psi,
    validation_histogram,
    wilson_interval,
)
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db

# Hand-computed example: 10 reviewed studies, AI vs final read (positive = PNEUMONIA).
#   tp=4, fp=1, fn=2, tn=3 -> agreement 7/10; chance agreement (5*6 + 5*4)/100 = 0.5; kappa = 0.2/0.5 = 0.4
#   sensitivity 4/6, Wilson 95% [0.3000, 0.9032]; specificity 3/4, Wilson 95% [0.3006, 0.9544]
HAND = Confusion(tp=4, fp=1, fn=2, tn=3)


def test_kappa_and_agreement_by_hand():
    assert cohen_kappa(HAND) == pytest.approx(0.4)
    assert cohen_kappa(Confusion(tp=5, tn=5)) == pytest.approx(1.0)
    assert cohen_kappa(Confusion(tp=3, fp=3, fn=3, tn=3)) == pytest.approx(0.0)
    assert cohen_kappa(Confusion(tp=4)) is None  # both raters always positive: chance agreement is 1
    assert cohen_kappa(Confusion()) is None


def test_wilson_interval_by_hand():
    assert wilson_interval(4, 6) == pytest.approx((0.3000, 0.9032), abs=1e-4)
    assert wilson_interval(3, 4) == pytest.approx((0.3006, 0.9544), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_histogram_psi_and_ks_by_hand():
    assert histogram([0.0, 0.05, 0.1, 0.55, 0.999, 1.0]) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    # PSI = (0.25-0.5) ln(0.25/0.5) + (0.75-0.5) ln(0.75/0.5) = 0.17329 + 0.10137 = 0.27465
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.27465, abs=1e-4)
    assert psi([0.1] * 10, [0.1] * 10) == 0
    assert ks_distance([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([1] * 10, [0.1] * 10),
        (
            {"edges": [i / 10 for i in range(11)], "counts": [2, 2, 0, 0, 0, 0, 0, 0, 0, 0]},
            [0.5, 0.5] + [0.0] * 8,
        ),
        ({"edges": [0, 0.5, 1], "counts": [1, 1]}, None),  # incompatible binning
        ([1, 2, 3], None),
        (None, None),
    ],
)
def test_validation_histogram_formats(raw, expected):
    result = validation_histogram({"validation_probability_histogram": raw} if raw is not None else {})
    assert result == (pytest.approx(expected) if expected else None)


def make_read(
    user, reader, *, ai: str, final: str, reason: str = "", version: str = "v1", p: float | None = None
):
    probability = p if p is not None else (0.8 if ai == "PNEUMONIA" else 0.2)
    study = completed_study(created_by=user, probability=probability)
    study.predictions.update(model_version=version)
    if final == ai:
        review_submit(user=reader, study=study, decision="agree")
    else:
        review_submit(user=reader, study=study, decision="override", final_label=final, reason=reason)
    return study


@pytest.fixture
def hand_example(alice, carol):
    """The hand-computed example as real studies, predictions and signed reviews."""
    studies = [make_read(alice, carol, ai="PNEUMONIA", final="PNEUMONIA") for _ in range(4)]
    studies.append(make_read(alice, carol, ai="PNEUMONIA", final="NORMAL", reason="false_alarm"))
    studies += [
        make_read(alice, carol, ai="NORMAL", final="PNEUMONIA", reason="missed_finding") for _ in range(2)
    ]
    studies += [make_read(alice, carol, ai="NORMAL", final="NORMAL") for _ in range(3)]
    return studies


@pytest.fixture
def models_dir(tmp_path, tmp_path_factory, settings):
    """A bundle folder for v1 whose validation histogram is uniform; the portal serves v1."""
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "metadata.json").write_text(
        json.dumps({"version": "v1", "validation_probability_histogram": [10] * 10})
    )
    (tmp_path / "CURRENT").write_text("v1\n")
    settings.AIRSPACE_MODEL_BUNDLE = str(_served_bundle(tmp_path_factory.mktemp("served") / "v1", "v1"))
    return tmp_path


def _served_bundle(folder, version):
    """A minimal bundle the portal can be configured to serve (AIRSPACE_MODEL_BUNDLE)."""
    folder.mkdir()
    (folder / "metadata.json").write_text(
        json.dumps({"version": version, "sha256": "0" * 64, "threshold": 0.5})
    )
    return folder


def test_current_model_version_is_the_configured_bundle_not_models_current(
    models_dir, tmp_path_factory, settings
):
    """With AIRSPACE_MODEL_BUNDLE set, monitoring names that bundle even though models/CURRENT names v1."""
    settings.AIRSPACE_MODEL_BUNDLE = str(_served_bundle(tmp_path_factory.mktemp("other") / "v2", "v2-served"))
    assert (models_dir / "CURRENT").read_text().strip() == "v1"
    assert monitoring_report(models_dir=models_dir)["current_model_version"] == "v2-served"
    settings.AIRSPACE_MODEL_BUNDLE = str(models_dir / "missing")
    assert monitoring_report(models_dir=models_dir)["current_model_version"] is None


def test_report_reproduces_the_hand_example(hand_example, models_dir, alice):
    for status, code in (
        (Study.Status.REJECTED, "not_chest_xray"),
        (Study.Status.REJECTED, "not_chest_xray"),
        (Study.Status.FAILED, "timeout"),
    ):
        Study.objects.create(
            patient=hand_example[0].patient, created_by=alice, status=status, error_code=code
        )
    report = monitoring_report(models_dir=models_dir)
    assert report["current_model_version"] == "v1"
    (m,) = report["models"]
    assert m["model_version"] == "v1" and m["bundle_found"] is True
    assert m["volume"] == {
        "predictions": 10,
        "studies": 10,
        "reviewed": 10,
        "indeterminate": 0,
        "non_diagnostic": 0,
    }
    assert m["confusion"] == {"tp": 4, "fp": 1, "fn": 2, "tn": 3}
    assert m["agreement"]["value"] == pytest.approx(0.7) and m["agreement"]["kappa"] == pytest.approx(0.4)
    assert m["sensitivity"]["value"] == pytest.approx(4 / 6)
    assert m["sensitivity"]["ci95"] == pytest.approx([0.3000, 0.9032], abs=1e-4)
    assert m["specificity"]["ci95"] == pytest.approx([0.3006, 0.9544], abs=1e-4)
    assert m["overrides"] == {
        "total": 3,
        "by_reason": {
            "image_quality": 0,
            "missed_finding": 2,
            "false_alarm": 1,
            "wrong_input": 0,
            "other": 0,
        },
    }
    dist = m["probability_distribution"]
    assert dist["live_counts"] == [0, 0, 5, 0, 0, 0, 0, 0, 5, 0]  # p=0.2 x5, p=0.8 x5
    # Live mass in 2 of 10 bins against a uniform validation histogram: a significant shift.
    expected_psi = 2 * (0.5 - 0.1) * math.log(5) + 8 * (1e-4 - 0.1) * math.log(1e-3)
    assert dist["psi"] == pytest.approx(expected_psi) and dist["drift"] == "significant"
    assert dist["ks"] == pytest.approx(0.3)  # cumulative live 0.5 vs validation 0.8 after bin 8
    rejected = report["rejected_inputs"]
    assert (rejected["rejected"], rejected["failed"], rejected["completed"], rejected["n"]) == (2, 1, 10, 13)
    assert rejected["value"] == pytest.approx(2 / 13) and rejected["by_code"] == {"not_chest_xray": 2}


def test_amendment_changes_the_reference_and_versions_are_separate(
    hand_example, models_dir, alice, carol, dave
):
    # Amend a false alarm back to PNEUMONIA: the current read now agrees with the AI.
    review_submit(user=dave, study=hand_example[4], decision="agree", amendment_reason="second read")
    make_read(alice, carol, ai="PNEUMONIA", final="PNEUMONIA", version="v2")
    report = monitoring_report(models_dir=models_dir)
    v1, v2 = report["models"]
    assert (
        v1["confusion"] == {"tp": 5, "fp": 0, "fn": 2, "tn": 3}
        and v1["overrides"]["by_reason"]["false_alarm"] == 0
    )
    assert v2["model_version"] == "v2" and v2["volume"]["reviewed"] == 1 and v2["bundle_found"] is False
    assert (
        v2["probability_distribution"]["psi"] is None and v2["probability_distribution"]["drift"] == "unknown"
    )
    only = monitoring_report(model_version="v2", models_dir=models_dir)["models"]
    assert [m["model_version"] for m in only] == ["v2"]


def test_period_filters_by_prediction_date(hand_example, models_dir):
    old = hand_example[:3]
    Prediction.objects.filter(study__in=old).update(created_at=timezone.now() - timedelta(days=40))
    recent = monitoring_report(date_from=timezone.now().date() - timedelta(days=7), models_dir=models_dir)
    assert recent["models"][0]["volume"]["predictions"] == 7
    past = monitoring_report(date_to=timezone.now().date() - timedelta(days=30), models_dir=models_dir)
    assert past["models"][0]["confusion"] == {"tp": 3, "fp": 0, "fn": 0, "tn": 0}


def test_api_is_admin_only_and_returns_the_figures(api, hand_example, admin_user, alice, carol, nobody):
    for user in (alice, carol, nobody):
        api.force_authenticate(user)
        assert api.get("/api/v1/monitoring/").status_code == 403
    api.force_authenticate(admin_user)
    body = api.get("/api/v1/monitoring/?model_version=v1").json()
    assert body["models"][0]["agreement"]["kappa"] == pytest.approx(0.4)
    assert body["models"][0]["overrides"]["total"] == 3 and "rejected_inputs" in body
    today = dt.date.today().isoformat()
    assert api.get(f"/api/v1/monitoring/?date_from={today}&date_to={today}").status_code == 200
    for query, field in (
        ("?date_from=yesterday", "date_from"),
        ("?date_from=2026-02-02&date_to=2026-01-01", "date_from"),
        (f"?model_version={'x' * 65}", "model_version"),
        ("?model_version=v1%00", "model_version"),  # NUL would reach PostgreSQL as a 500
        ("?date_from=%C2%B2026-01-01", "date_from"),
    ):
        bad = api.get(f"/api/v1/monitoring/{query}")
        assert bad.status_code == 400 and field in bad.json()["error"]["fields"]
    assert (
        api.get("/api/v1/monitoring/?model_version=does-not-exist").json()["models"][0]["volume"]["studies"]
        == 0
    )


def test_dashboard_and_svg_plots(client, hand_example, admin_user, carol):
    client.force_login(carol)
    assert client.get("/monitoring/").status_code == 403
    assert client.get("/monitoring/plot/distribution.svg?model_version=v1").status_code == 403
    client.force_login(admin_user)
    page = client.get("/monitoring/")
    html = page.content.decode()
    assert page.status_code == 200 and "Model v1" in html and "0.400" in html  # kappa
    assert (
        "/monitoring/plot/distribution.svg?model_version=v1" in html
        and "<script" not in html.split("<main")[1]
    )
    for kind in ("distribution", "confusion", "overrides", "trend"):
        plot = client.get(f"/monitoring/plot/{kind}.svg?model_version=v1")
        assert plot.status_code == 200 and plot["Content-Type"] == "image/svg+xml"
        assert (
            plot.content.lstrip().startswith(b"<?xml")
            and b"<svg" in plot.content
            and b"<script" not in plot.content
        )
    assert client.get("/monitoring/plot/pie.svg?model_version=v1").status_code == 404
    assert client.get("/monitoring/plot/distribution.svg").status_code == 404
    bad = client.get("/monitoring/?date_from=soon")
    assert bad.status_code == 200 and "date_from must be an ISO date" in bad.content.decode()


def test_weekly_trend(hand_example, models_dir):
    now = timezone.now()
    Prediction.objects.filter(study__in=hand_example[:4]).update(created_at=now - timedelta(days=7))
    weekly = monitoring_report(models_dir=models_dir)["models"][0]["weekly"]
    assert [w["predictions"] for w in weekly] == [4, 6] and [w["reviewed"] for w in weekly] == [4, 6]
    earlier, this_week = weekly
    assert earlier["week_start"] < this_week["week_start"] and earlier["week_start"].weekday() == 0
    assert earlier["agreement"] == 1.0 and earlier["kappa"] is None  # all four PNEUMONIA on both sides
    # This week: fp=1, fn=2, tn=3 -> agreement 3/6; chance (1*2 + 5*4)/36; kappa = (0.5 - 22/36)/(1 - 22/36)
    assert this_week["agreement"] == pytest.approx(0.5)
    assert this_week["kappa"] == pytest.approx((0.5 - 22 / 36) / (1 - 22 / 36))
    assert earlier["psi"] is not None and this_week["psi"] is not None
