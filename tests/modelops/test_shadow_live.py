"""Shadow mode on real parts: an admin registers a candidate profile, the real worker scores every new study
with it apart from the served result (never in the study JSON), reads are signed, the comparison page and
API report paired figures, and promote then rollback are one audited click each."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from modelops.models import OperatingProfile, ShadowPrediction, ShadowRun
from tests.conftest import wait_for_status, xray_paths
from tests.fixtures.pages import client_for, html
from tests.modelops.test_lifecycle_live import sign, upload
from tests.modelops.test_shadow import candidate as shifted_candidate

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for_shadow(count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while ShadowPrediction.objects.count() < count:
        assert time.monotonic() < deadline, f"{ShadowPrediction.objects.count()} of {count} shadow results"
        time.sleep(0.2)


def test_a_candidate_profile_in_shadow_then_promoted_and_rolled_back(
    celery_worker, api, alice, carol, admin_user
):
    # A candidate that leans toward pneumonia: it will disagree on some normal films.
    candidate = shifted_candidate(bias=3.0)
    served = OperatingProfile.objects.get(active=True)
    admin = client_for(admin_user)
    started = admin.post(reverse("model-shadow-start"), {"candidate": f"profile:{candidate.pk}"})
    assert started.status_code == 302 and ShadowRun.objects.get().status == "running"
    assert client_for(carol).post(reverse("model-shadow-start"), {"candidate": "x"}).status_code == 403
    # Studies flow as usual; the worker also scores each with the candidate, stored apart.
    api.force_authenticate(alice)
    films = xray_paths()[:6] + xray_paths()[-6:]
    studies = [(upload(api, p.name, p.read_bytes(), f"SH-{i}"), p.parent.name) for i, p in enumerate(films)]
    for study_id, _ in studies:
        assert wait_for_status(study_id, ("completed", "failed", "rejected")).status == "completed"
    wait_for_shadow(len(studies))
    body = api.get(f"/api/v1/studies/{studies[0][0]}/").content.decode()
    assert "shadow" not in body and f'"id":{candidate.pk}' not in body.replace(" ", "")
    api.force_authenticate(carol)
    for study_id, truth in studies:
        sign(api, study_id, truth)
    # The comparison, for admins only.
    api.force_authenticate(alice)
    assert api.get("/api/v1/model/shadow/").status_code == 403
    api.force_authenticate(admin_user)
    report = api.get("/api/v1/model/shadow/").json()
    assert report["read_studies"] == 12 and report["scored_studies"] == 12
    figures = report["figures"]
    assert set(figures) >= {"served", "candidate", "difference", "mcnemar"}
    assert (
        0
        <= figures["candidate"]["sensitivity"]["ci_low"]
        <= figures["candidate"]["sensitivity"]["ci_high"]
        <= 1
    )
    assert 0 <= figures["mcnemar"]["p_value"] <= 1 and report["latency"]["served"]["p50_ms"] > 0
    disagreeing = {row["study"] for row in report["disagreements"]}
    expected = {
        str(s.study_id)
        for s in ShadowPrediction.objects.select_related("prediction")
        if s.label != s.prediction.label
    }
    assert disagreeing == expected
    page = html(admin.get(reverse("model-shadow")))
    assert "McNemar" in page and "Promote the candidate" in page
    # Promote: the candidate labels the next study; rollback: the served profile is back.
    shadow = ShadowRun.objects.get()
    assert admin.post(reverse("model-shadow-promote", args=[shadow.pk])).status_code == 302
    assert OperatingProfile.objects.get(active=True).pk == candidate.pk
    api.force_authenticate(alice)
    fresh = upload(api, "after.jpg", xray_paths()[1].read_bytes(), "SH-NEW")
    assert wait_for_status(fresh, ("completed",)).status == "completed"
    assert (
        api.get(f"/api/v1/studies/{fresh}/").json()["prediction"]["operating_profile"]["id"] == candidate.pk
    )
    assert admin.post(reverse("model-shadow-rollback", args=[shadow.pk])).status_code == 302
    assert OperatingProfile.objects.get(active=True).pk == served.pk
    actions = list(
        AuditEvent.objects.filter(action__startswith="shadow.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["shadow.start", "shadow.promote", "shadow.rollback"]
    assert AuditEvent.objects.filter(action="profile.activate", object_id=str(candidate.pk)).exists()


def test_a_promoted_bundle_serves_the_next_upload_on_a_running_worker_and_rollback_returns(
    candidate_bundle, celery_worker, api, alice, admin_user
):
    from modelops.models import ServedBundle

    admin = client_for(admin_user)
    api.force_authenticate(alice)
    shipped = api.get("/api/v1/model/").json()["version"]
    assert (
        admin.post(reverse("model-shadow-start"), {"candidate": f"bundle:{candidate_bundle}"}).status_code
        == 302
    )
    first = upload(api, "a.jpg", xray_paths()[0].read_bytes(), "PB-1")
    assert wait_for_status(first, ("completed",)).status == "completed"
    wait_for_shadow(1)
    assert api.get(f"/api/v1/studies/{first}/").json()["prediction"]["model_version"] == shipped
    # Promote: one audited click; the same running worker predicts the next upload with the candidate.
    shadow = ShadowRun.objects.get()
    assert f"serve bundle {candidate_bundle} from the next study" in html(admin.get(reverse("model-shadow")))
    assert admin.post(reverse("model-shadow-promote", args=[shadow.pk])).status_code == 302
    assert f"Roll back to {shipped}" in html(admin.get(reverse("model-shadow")))
    assert ServedBundle.objects.get(active=True).model_version == "airspace-cnn-cand-2"
    assert api.get("/api/v1/model/").json()["version"] == "airspace-cnn-cand-2"
    assert admin.get("/healthz").json()["model_version"] == "airspace-cnn-cand-2"
    assert "airspace-cnn-cand-2" in html(admin.get(reverse("model-card")))
    after = upload(api, "b.jpg", xray_paths()[-1].read_bytes(), "PB-2")
    assert wait_for_status(after, ("completed",)).status == "completed"
    body = api.get(f"/api/v1/studies/{after}/").json()["prediction"]
    assert body["model_version"] == "airspace-cnn-cand-2"
    profile = OperatingProfile.objects.get(pk=body["operating_profile"]["id"])
    assert profile.model_version == "airspace-cnn-cand-2" and profile.source == "bundle"
    # Rollback: the shipped bundle serves the next upload again, same worker, no restart.
    assert admin.post(reverse("model-shadow-rollback", args=[shadow.pk])).status_code == 302
    again = upload(api, "c.jpg", xray_paths()[1].read_bytes(), "PB-3")
    assert wait_for_status(again, ("completed",)).status == "completed"
    assert api.get(f"/api/v1/studies/{again}/").json()["prediction"]["model_version"] == shipped
    assert celery_worker.poll() is None  # the same worker process throughout
    # Exactly once: one prediction per study, whatever bundle served it.
    from diagnosis.models import Prediction

    assert [Prediction.objects.filter(study_id=s).count() for s in (first, after, again)] == [1, 1, 1]
    actions = AuditEvent.objects.filter(action__in=["bundle.serve", "shadow.promote", "shadow.rollback"])
    assert list(actions.order_by("id").values_list("action", flat=True)) == [
        "bundle.serve",
        "shadow.promote",
        "bundle.serve",
        "shadow.rollback",
    ]
