"""Calibration runs that never end: the sweep re-sends a lost pending run and fails one whose worker died;
the task's claim keeps a re-sent run and a late original message from both fitting it."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from modelops.models import CalibrationRun, OperatingProfile
from modelops.services import calibration_runs
from modelops.services.calibration_runs import WORKER_STOPPED, calibration_run, calibration_sweep
from modelops.tasks import calibration_sweep_task
from tests.fixtures.pages import client_for, html
from tests.modelops.test_site_calibration import site_reads  # noqa: F401  (the fixture)

OUTCOME = re.compile(r"calibration_run_task\[[^\]]+\] succeeded in [\d.]+s: (True|False)")


def _run(user, status: str, *, queued_ago: int = 0, started_ago: int | None = None) -> CalibrationRun:
    """A run of the served version in `status`, sent `queued_ago` and claimed `started_ago` seconds ago."""
    from modelops.selectors import active_bundle

    now = timezone.now()
    return CalibrationRun.objects.create(
        model_version=active_bundle().version,
        target_sensitivity=0.95,
        status=status,
        requested_by=user,
        queued_at=now - dt.timedelta(seconds=queued_ago),
        started_at=None if started_ago is None else now - dt.timedelta(seconds=started_ago),
    )


@pytest.mark.django_db
def test_the_sweep_fails_a_stale_running_run_with_its_audit_event(admin_user, carol, settings, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(calibration_runs, "_send", sent.append)
    stale = _run(admin_user, "running", queued_ago=2000, started_ago=16 * 60)
    # A live worker's: even a limit set below the task's hard limit (330 s) does not fail it.
    settings.AIRSPACE_CALIBRATION_STALE_AFTER_SECONDS = 60
    fitting = _run(admin_user, "running", queued_ago=2000, started_ago=120)
    # What beat runs (portal/settings/schedule.py) is this task.
    assert settings.CELERY_BEAT_SCHEDULE["sweep-calibration-runs"]["task"] == calibration_sweep_task.name
    assert calibration_sweep_task() == 1
    stale.refresh_from_db()
    assert stale.status == "failed" and stale.error == WORKER_STOPPED and stale.finished_at is not None
    assert CalibrationRun.objects.get(pk=fitting.pk).status == "running"
    event = AuditEvent.objects.get(action="calibration.fail")
    assert event.object_id == str(stale.pk) and event.actor is None
    assert event.after == {"status": "failed", "error": WORKER_STOPPED} and sent == []
    assert calibration_sweep().failed == []  # once only
    page = html(client_for(admin_user).get(reverse("model-calibration", args=[stale.pk])))
    assert "request again" in page and "Failed" in page and 'http-equiv="refresh"' not in page
    assert client_for(carol).get(reverse("model-calibration", args=[stale.pk])).status_code == 403


@pytest.mark.django_db
def test_the_sweep_resends_a_lost_pending_run_once_per_grace_period(
    admin_user, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.AIRSPACE_CALIBRATION_REQUEUE_AFTER_SECONDS = 120
    sent: list[int] = []
    monkeypatch.setattr(calibration_runs, "_send", sent.append)
    lost = _run(admin_user, "pending", queued_ago=130)
    waiting = _run(admin_user, "pending", queued_ago=30)  # still inside the grace period
    with django_capture_on_commit_callbacks(execute=True):
        assert calibration_sweep().requeued == [lost.pk]
    assert sent == [lost.pk]
    assert AuditEvent.objects.filter(action="calibration.requeue", object_id=str(lost.pk)).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert calibration_sweep().requeued == []  # not again before another grace period
        later = timezone.now() + dt.timedelta(seconds=125)
        assert calibration_sweep(now=later).requeued == [lost.pk, waiting.pk]
    assert sent == [lost.pk, lost.pk, waiting.pk]


@pytest.mark.django_db
def test_a_run_claimed_twice_is_fitted_once_and_a_swept_run_keeps_its_failure(
    site_reads,  # noqa: F811
    admin_user,
    monkeypatch,
):
    run = _run(admin_user, "pending")
    assert calibration_run(run_id=run.pk).status == "done"
    assert calibration_run(run_id=run.pk) is None  # the re-sent or the late original message
    assert OperatingProfile.objects.filter(source="reviews").count() == 1
    assert AuditEvent.objects.filter(action="profile.create", after__source="reviews").count() == 1

    # A worker still fitting when the sweep (clock far ahead) fails its run does not overwrite that.
    propose = calibration_runs.site_calibration_propose

    def slow_propose(**kwargs):
        calibration_sweep(now=timezone.now() + dt.timedelta(hours=1))
        return propose(**kwargs)

    monkeypatch.setattr(calibration_runs, "site_calibration_propose", slow_propose)
    late = _run(admin_user, "pending")
    assert calibration_run(run_id=late.pk) is None
    late.refresh_from_db()
    assert late.status == "failed" and late.error == WORKER_STOPPED and late.profile is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_lost_run_is_resent_by_the_sweep_and_fitted_once_by_the_real_worker(
    site_reads,  # noqa: F811
    celery_worker,
    admin_user,
):
    lost = _run(admin_user, "pending", queued_ago=600)  # requested, its message never reached a worker
    assert calibration_sweep().requeued == [lost.pk]
    calibration_runs._send(lost.pk)  # the original message turns up late as well
    deadline = time.monotonic() + 120
    while CalibrationRun.objects.get(pk=lost.pk).status in ("pending", "running"):
        assert time.monotonic() < deadline, "the worker never fitted the re-sent calibration"
        time.sleep(0.3)
    lost.refresh_from_db()
    assert lost.status == "done" and lost.profile.source == "reviews" and lost.started_at is not None
    assert OperatingProfile.objects.filter(source="reviews").count() == 1
    # Both messages were taken: one fitted the run, the other found it claimed and did nothing.
    log, deadline = Path(celery_worker.log_path), time.monotonic() + 30
    while len(OUTCOME.findall(log.read_text(errors="replace"))) < 2:
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.3)
    assert sorted(OUTCOME.findall(log.read_text(errors="replace"))) == ["False", "True"]
    assert OperatingProfile.objects.filter(source="reviews").count() == 1
    assert AuditEvent.objects.filter(action="calibration.requeue", object_id=str(lost.pk)).count() == 1
