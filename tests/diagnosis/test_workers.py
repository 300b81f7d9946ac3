"""Worker heartbeats and the release of claims whose worker stopped (the services, without processes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from diagnosis.models import Study, WorkerHeartbeat
from diagnosis.services import workers
from diagnosis.services.predictions import study_processing_claim
from diagnosis.services.sweeper import sweep_stuck_studies
from tests.diagnosis.factories import StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None]]:
    """(study id, priority) of every hand-over to the broker."""
    calls: list[tuple[str, int | None]] = []
    monkeypatch.setattr(
        workers,
        "study_enqueue",
        lambda *, study_id, priority=None: calls.append((str(study_id), priority)) or True,
    )
    return calls


def beat(worker: str, seconds_ago: float) -> None:
    workers.worker_heartbeat(worker=worker, hostname="host", pid=1)
    WorkerHeartbeat.objects.filter(worker=worker).update(
        last_seen_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def claimed(alice: Any, worker: str, seconds_ago: float = 30) -> Study:
    started = timezone.now() - timedelta(seconds=seconds_ago)
    return StudyFactory(
        created_by=alice,
        status=Study.Status.PROCESSING,
        processing_worker=worker,
        processing_started_at=started,
        attempts=1,
    )


def test_heartbeat_creates_then_refreshes_one_row_per_worker():
    workers.worker_heartbeat(worker="w1@a:10:ab", hostname="a", pid=10)
    first = WorkerHeartbeat.objects.get().last_seen_at
    workers.worker_heartbeat(worker="w1@a:10:ab", hostname="a", pid=10)
    row = WorkerHeartbeat.objects.get()
    assert (row.hostname, row.pid) == ("a", 10) and row.last_seen_at >= first


def test_only_claims_of_workers_that_stopped_heartbeating_are_released(alice, settings, enqueued):
    settings.AIRSPACE_WORKER_DEAD_AFTER_SECONDS = 6
    beat("alive", seconds_ago=1)
    beat("dead", seconds_ago=20)
    live_claim = claimed(alice, "alive")
    dead_claim = claimed(alice, "dead")
    unknown_worker_claim = claimed(alice, "never-beat")  # e.g. its row was pruned: no heartbeat at all
    anonymous_claim = claimed(alice, "")  # an eager run names no worker: left to the stale-claim rule
    fresh_claim = claimed(alice, "dead", seconds_ago=1)  # claimed a moment ago: not yet

    assert workers.dead_claims_release() == 2
    statuses = dict(Study.objects.values_list("id", "status"))
    assert statuses[dead_claim.id] == statuses[unknown_worker_claim.id] == Study.Status.QUEUED
    assert {statuses[s.id] for s in (live_claim, anonymous_claim, fresh_claim)} == {Study.Status.PROCESSING}
    # Re-enqueued first in line; the attempt is kept (a study that keeps killing workers still fails).
    assert sorted(enqueued) == sorted([(str(dead_claim.id), 0), (str(unknown_worker_claim.id), 0)])
    dead_claim.refresh_from_db()
    assert (dead_claim.attempts, dead_claim.processing_worker, dead_claim.processing_started_at) == (
        1,
        "",
        None,
    )
    event = AuditEvent.objects.get(action="study.requeued", object_id=str(dead_claim.id))
    assert event.actor is None and event.before == {"status": "processing", "worker": "dead"}
    assert "Worker dead stopped heartbeating (last seen" in event.reason
    # Idempotent: a second pass (another worker's beat, the sweep) finds nothing more.
    assert workers.dead_claims_release() == 0 and len(enqueued) == 2


def test_sweep_releases_dead_claims_and_prunes_long_gone_workers(alice, enqueued):
    beat("dead", seconds_ago=20)
    beat("gone-yesterday", seconds_ago=2 * 86400)
    study = claimed(alice, "dead")
    assert sweep_stuck_studies() == 1
    assert Study.objects.get(id=study.id).status == Study.Status.QUEUED
    assert list(WorkerHeartbeat.objects.values_list("worker", flat=True)) == ["dead"]


def test_claim_records_the_worker_and_a_retake_never_takes_a_live_workers_claim(alice):
    beat("alive", seconds_ago=1)
    beat("dead", seconds_ago=20)
    study = StudyFactory(created_by=alice)
    assert study_processing_claim(study_id=study.id, worker="alive") is not None
    assert Study.objects.get(id=study.id).processing_worker == "alive"
    # A redelivered message on another worker does not take a live worker's claim; its own worker may.
    assert study_processing_claim(study_id=study.id, retake=True, worker="other") is None
    assert study_processing_claim(study_id=study.id, retake=True, worker="alive") is not None
    Study.objects.filter(id=study.id).update(processing_worker="dead")
    assert study_processing_claim(study_id=study.id, retake=True, worker="other") is not None
    assert Study.objects.get(id=study.id).processing_worker == "other"


def test_warm_shutdown_forgets_the_worker():
    beat("leaving", seconds_ago=0)
    workers.worker_forget(worker="leaving")
    assert not WorkerHeartbeat.objects.exists()


def test_a_dead_workers_reservation_is_released_too(alice, enqueued):
    """A queued study whose message a worker received but had not started when it died is re-enqueued
    at once (otherwise its message waits unacked in the broker until the visibility timeout)."""
    beat("alive", seconds_ago=1)
    beat("dead", seconds_ago=20)
    reserved_by_dead, reserved_by_live = StudyFactory(created_by=alice), StudyFactory(created_by=alice)
    workers.worker_reserve(study_id=reserved_by_dead.id, worker="dead")
    workers.worker_reserve(study_id=reserved_by_live.id, worker="alive")
    assert workers.dead_claims_release() == 1 and enqueued == [(str(reserved_by_dead.id), 0)]
    reserved_by_dead.refresh_from_db()
    assert (reserved_by_dead.status, reserved_by_dead.processing_worker) == (Study.Status.QUEUED, "")
    event = AuditEvent.objects.get(action="study.requeued", object_id=str(reserved_by_dead.id))
    assert event.before == {"status": "queued", "worker": "dead"}
    assert Study.objects.get(id=reserved_by_live.id).processing_worker == "alive"
    # Only a queued study is reserved: a claimed or finished one is left alone.
    workers.worker_reserve(study_id=claimed(alice, "alive").id, worker="dead")
    assert workers.dead_claims_release() == 0
