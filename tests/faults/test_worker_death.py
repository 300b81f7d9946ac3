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
from tests.conftest import wait_for_status
from tests.faults.conftest import kill_worker, pool_children, task_limits, upload, wait_until, worker_log


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
    """Production timings (45/60 s limits, 75 s visibility, 30 s sweep): measure and print the recovery."""
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
    api, alice, xray_bytes, workers, beat, hold_file
):
    """Only the pool process dies (OOM killer, segfault): the worker replaces it and recovers the study."""
    hold_file.touch()
    env = {
        "AIRSPACE_TEST_HOLD_FILE": str(hold_file),
        "CELERY_TASK_SOFT_TIME_LIMIT": "6",
        "CELERY_TASK_TIME_LIMIT": "8",
        "CELERY_VISIBILITY_TIMEOUT": "12",
        "AIRSPACE_SWEEP_SECONDS": "2",
        "AIRSPACE_STUCK_AFTER_SECONDS": "5",
    }
    worker = workers(env=env, name="child-kill")
    beat(env=env)
    with task_limits(soft=6, hard=8):
        body = upload(api, alice, xray_bytes)
    wait_until(lambda: processing(body["id"]), 60, "the worker to claim the study")
    [child] = pool_children(worker)
    os.kill(child, 9)
    hold_file.unlink()
    wait_for_status(body["id"], Study.FINAL_STATUSES, timeout=90)
    assert_completed_once(body["id"], attempts=2)
    assert worker.poll() is None and child not in pool_children(worker)
    assert "SIGKILL" in worker_log(worker) or "WorkerLostError" in worker_log(worker)
    # The same worker process goes on to analyse the next study.
    second = upload(api, alice, xray_bytes, name="next.jpg")
    wait_for_status(second["id"], Study.FINAL_STATUSES, timeout=60)
    assert_completed_once(second["id"], attempts=1)
