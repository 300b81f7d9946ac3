"""A worker SIGKILLed mid-prediction: its claim is released as soon as its heartbeat stops, exactly once.

Every worker refreshes its WorkerHeartbeat row every AIRSPACE_HEARTBEAT_SECONDS and records its identity
on each claim. A claim whose worker has not been seen for AIRSPACE_WORKER_DEAD_AFTER_SECONDS is put back
to queued (audited `study.requeued`, naming the dead worker) by the next beat of any live worker or by the
beat-driven sweep, and re-enqueued at broker priority 0, ahead of the queued backlog. The broker's own
redelivery (visibility timeout, 75 s) arrives later and finds the study done. Timings are printed (the
figures are measured with bench/worker_kill.py); the asserts are about the mechanism.
"""

from __future__ import annotations

import os
import time

from django.conf import settings

from audit.models import AuditEvent
from diagnosis.models import Prediction, Study, WorkerHeartbeat
from diagnosis.services.predictions import MAX_ATTEMPTS
from tests.conftest import wait_for_status
from tests.faults.conftest import kill_worker, pool_children, upload, wait_until, worker_log

BACKLOG = 12


def processing(study_id: str) -> bool:
    return Study.objects.filter(id=study_id, status=Study.Status.PROCESSING).exists()


def assert_completed_once(study_id: str, attempts: int) -> Study:
    """Completed, with exactly one prediction and one prediction.create audit row."""
    study = Study.objects.get(id=study_id)
    assert study.status == Study.Status.COMPLETED, (study.status, study.status_reason)
    assert study.attempts == attempts
    prediction = Prediction.objects.get(study=study)
    assert AuditEvent.objects.filter(action="prediction.create", object_id=str(prediction.id)).count() == 1
    return study


def claim_of_held_study(study_id: str) -> str:
    """The identity of the worker holding the study (claims name their worker, which is heartbeating)."""
    worker = Study.objects.get(id=study_id).processing_worker
    assert worker and WorkerHeartbeat.objects.filter(worker=worker).exists()
    return worker


def assert_released_for_stopped_heartbeat(study_id: str, dead_worker: str) -> AuditEvent:
    """One study.requeued audit row: the dead worker's claim went back to queued because it stopped."""
    [event] = AuditEvent.objects.filter(action="study.requeued", object_id=study_id)
    assert event.before == {"status": "processing", "worker": dead_worker}
    assert event.after == {"status": "queued"} and "stopped heartbeating" in event.reason
    return event


def upload_backlog(api, alice, xray_bytes) -> list[str]:
    """BACKLOG more studies, queued behind the held one."""
    return [upload(api, alice, xray_bytes, name=f"backlog-{n}.jpg")["id"] for n in range(BACKLOG)]


def heartbeat_stopped(worker: str) -> bool:
    """The worker's row is older than AIRSPACE_WORKER_DEAD_AFTER_SECONDS."""
    from diagnosis.services.workers import dead_before

    return WorkerHeartbeat.objects.filter(worker=worker, last_seen_at__lt=dead_before()).exists()


def test_next_worker_to_boot_releases_a_dead_workers_claim_and_runs_it_before_the_backlog(
    api, alice, xray_bytes, workers, hold_file
):
    """No worker alive after the kill: the claim stays until a worker boots; that worker releases it at
    once (the heartbeat stopped) and, at broker priority 0, runs it before the older queued backlog."""
    hold_file.touch()
    doomed = workers(env={"AIRSPACE_TEST_HOLD_FILE": str(hold_file)}, name="doomed")
    held = upload(api, alice, xray_bytes)["id"]
    wait_until(lambda: processing(held), 60, "the worker to claim the study")
    dead_worker = claim_of_held_study(held)
    backlog = upload_backlog(api, alice, xray_bytes)
    kill_worker(doomed)
    hold_file.unlink()
    wait_until(lambda: heartbeat_stopped(dead_worker), 30, "the dead worker's heartbeat to go stale")
    assert processing(held)  # nobody alive to release it yet
    workers(name="replacement")
    back_at = time.monotonic()
    wait_for_status(held, Study.FINAL_STATUSES, timeout=60)
    print(
        f"\nRECOVERY (worker boot): study completed {time.monotonic() - back_at:.1f} s after the worker was up"
    )
    for study_id in backlog:
        wait_for_status(study_id, Study.FINAL_STATUSES, timeout=120)
    assert_released_for_stopped_heartbeat(held, dead_worker)
    recovered = assert_completed_once(held, attempts=2)
    assert recovered.processing_worker not in ("", dead_worker)
    for study_id in backlog:
        assert_completed_once(study_id, attempts=1)
    # Priority 0: the dead worker's studies (its claim, and the next study it had received and reserved,
    # CELERY_WORKER_PREFETCH_MULTIPLIER) were the first the new worker finished, ahead of the older backlog.
    released = set(
        AuditEvent.objects.filter(action="study.requeued", before__worker=dead_worker).values_list(
            "object_id", flat=True
        )
    )
    # A worker process holds its claim and at most multiplier - 1 more received messages.
    assert str(held) in released and len(released) <= settings.CELERY_WORKER_PREFETCH_MULTIPLIER
    finished = Study.objects.filter(id__in=[held, *backlog]).order_by("completed_at")
    assert {str(study.id) for study in finished[: len(released)]} == released


def test_live_worker_releases_a_dead_workers_claim_within_its_heartbeats(
    api, alice, xray_bytes, workers, hold_file
):
    """A live worker alone (no beat) notices the other's heartbeat stop, releases the claim and runs the
    study, with a backlog queued; nothing waits for the hard time limit or the broker's redelivery."""
    hold_file.touch()
    doomed = workers(env={"AIRSPACE_TEST_HOLD_FILE": str(hold_file)}, name="doomed")
    held = upload(api, alice, xray_bytes)["id"]
    wait_until(lambda: processing(held), 60, "the worker to claim the study")
    dead_worker = claim_of_held_study(held)
    backlog = upload_backlog(api, alice, xray_bytes)
    survivor = workers(name="survivor")  # up and heartbeating before the kill; it is not held
    kill_worker(doomed)
    killed_at = time.monotonic()
    hold_file.unlink()
    wait_for_status(held, Study.FINAL_STATUSES, timeout=60)
    print(f"\nRECOVERY (live worker): study completed {time.monotonic() - killed_at:.1f} s after the SIGKILL")
    for study_id in backlog:
        wait_for_status(study_id, Study.FINAL_STATUSES, timeout=120)
    assert_released_for_stopped_heartbeat(held, dead_worker)
    recovered = assert_completed_once(held, attempts=2)
    assert recovered.processing_worker not in ("", dead_worker)
    for study_id in backlog:
        assert_completed_once(study_id, attempts=1)
    assert "stopped heartbeating" in worker_log(survivor) and survivor.poll() is None


def test_pool_child_killed_mid_prediction_worker_lives_on_and_study_completes_once(
    api, alice, xray_bytes, workers, hold_file
):
    """Only the pool process dies (OOM killer, segfault): the message is rejected back to the queue
    (reject_on_worker_lost), redelivered at once, and the redelivery retakes the claim. No beat here:
    recovery does not wait for the sweeper."""
    hold_file.touch()
    worker = workers(env={"AIRSPACE_TEST_HOLD_FILE": str(hold_file)}, name="child-kill")
    body = upload(api, alice, xray_bytes)
    wait_until(lambda: processing(body["id"]), 60, "the worker to claim the study")
    [child] = pool_children(worker)
    os.kill(child, 9)
    hold_file.unlink()
    wait_for_status(body["id"], Study.FINAL_STATUSES, timeout=30)
    assert_completed_once(body["id"], attempts=2)
    assert worker.poll() is None and child not in pool_children(worker)
    assert "SIGKILL" in worker_log(worker) or "WorkerLostError" in worker_log(worker)
    # The same worker process goes on to analyse the next study.
    second = upload(api, alice, xray_bytes, name="next.jpg")
    wait_for_status(second["id"], Study.FINAL_STATUSES, timeout=60)
    assert_completed_once(second["id"], attempts=1)


def test_image_that_kills_its_worker_process_fails_after_max_attempts(
    api, alice, xray_bytes, workers, hold_file
):
    """A poison that crashes the process itself (not just raises) fails only its study, after
    MAX_ATTEMPTS claims, with a reason; the worker lives on."""
    hold_file.touch()
    worker = workers(env={"AIRSPACE_TEST_HOLD_FILE": str(hold_file)}, name="crash-loop")
    body = upload(api, alice, xray_bytes)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        wait_until(
            lambda n=attempt: Study.objects.filter(id=body["id"], status="processing", attempts=n).exists(),
            30,
            f"claim number {attempt}",
        )
        for child in pool_children(worker):  # the "image" kills the process analysing it
            os.kill(child, 9)
    study = wait_for_status(body["id"], Study.FINAL_STATUSES, timeout=30)
    assert (study.status, study.error_code) == (Study.Status.FAILED, "processing_crashed")
    assert study.attempts == MAX_ATTEMPTS + 1 and "repeatedly" in study.status_reason
    assert not Prediction.objects.filter(study=study).exists()
    assert AuditEvent.objects.filter(action="study.failed", object_id=body["id"]).count() == 1
    hold_file.unlink()
    second = upload(api, alice, xray_bytes, name="next.jpg")
    wait_for_status(second["id"], Study.FINAL_STATUSES, timeout=60)
    assert_completed_once(second["id"], attempts=1)
    assert worker.poll() is None
