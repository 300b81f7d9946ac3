"""A worker SIGKILLed mid-prediction: the study still completes once a worker is back, exactly once.

The killed worker's claim (status processing) stays in the database; it becomes stale after the hard time
limit (+5 s) and the beat-driven sweeper re-enqueues it, while the broker also redelivers the unacked
message after the visibility timeout. Whichever arrives first claims it; the other finds it done.
"""

from __future__ import annotations

import os
import time

import pytest

from diagnosis.models import AuditEvent, Prediction, Study
from diagnosis.services.predictions import MAX_ATTEMPTS
from tests.conftest import wait_for_status
from tests.faults.conftest import kill_worker, pool_children, upload, wait_until, worker_log


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


@pytest.mark.slow
def test_killed_worker_study_completes_within_two_minutes_of_a_worker_being_back(
    api, alice, xray_bytes, workers, beat, hold_file
):
    """Production timings (45/60 s limits, 75 s visibility, 15 s sweep): measure and print the recovery."""
    beat()  # beat keeps running throughout, as in production (its own process, not inside a worker)
    hold_file.touch()
    doomed = workers(env={"AIRSPACE_TEST_HOLD_FILE": str(hold_file)}, name="doomed")
    body = upload(api, alice, xray_bytes)
    wait_until(lambda: processing(body["id"]), 60, "the worker to claim the study")
    kill_worker(doomed)
    killed_at = time.monotonic()
    hold_file.unlink()
    time.sleep(1)
    assert processing(body["id"])  # the dead worker's claim is still there
    workers(name="replacement")
    back_at = time.monotonic()
    wait_for_status(body["id"], Study.FINAL_STATUSES, timeout=120)
    done_at = time.monotonic()
    print(
        f"\nRECOVERY: study completed {done_at - back_at:.1f} s after a worker was back "
        f"({done_at - killed_at:.1f} s after the SIGKILL)"
    )
    assert_completed_once(body["id"], attempts=2)


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
