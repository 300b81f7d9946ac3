"""The database briefly unreachable from a worker: the task retries with backoff and finishes, once.

The worker reaches PostgreSQL through a TcpProxy the test cuts and restores; the shared server and every
other client (this test process included) are untouched.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection

from diagnosis.models import Prediction, Study
from tests.conftest import wait_for_status
from tests.faults.conftest import upload, wait_until, worker_log
from tests.faults.tcp_proxy import TcpProxy


@pytest.fixture
def db_proxy(fault_db):
    """A proxy to the test database; the worker's DATABASE_URL points through it."""
    db = connection.settings_dict
    proxy = TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    proxy.start()
    proxy.url = f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}"
    yield proxy
    proxy.stop()


def test_database_lost_mid_prediction_and_at_delivery_task_retries_and_finishes(
    api, alice, xray_bytes, workers, hold_file, db_proxy
):
    hold_file.touch()
    worker = workers(env={"DATABASE_URL": db_proxy.url, "AIRSPACE_TEST_HOLD_FILE": str(hold_file)}, name="db")
    # 1. The connection drops after the worker claimed the study, before it records the prediction.
    first = upload(api, alice, xray_bytes)
    wait_until(lambda: Study.objects.filter(id=first["id"], status="processing").exists(), 60, "the claim")
    db_proxy.stop()
    hold_file.unlink()
    wait_until(lambda: "Retry in" in worker_log(worker), 30, "the task to schedule a retry")
    time.sleep(4)
    assert Study.objects.get(id=first["id"]).status == Study.Status.PROCESSING
    db_proxy.start()
    study = wait_for_status(first["id"], Study.FINAL_STATUSES, timeout=120)
    assert study.status == Study.Status.COMPLETED, study.status_reason
    # The retry took back its own claim (attempts 2) instead of waiting for the sweeper.
    assert study.attempts == 2 and Prediction.objects.filter(study=study).count() == 1
    # 2. The database is unreachable when the next task arrives: it retries until it is back.
    retries_before = worker_log(worker).count("Retry in")
    db_proxy.stop()
    second = upload(api, alice, xray_bytes, name="second.jpg")
    wait_until(lambda: worker_log(worker).count("Retry in") > retries_before, 30, "a retry")
    assert Study.objects.get(id=second["id"]).status == Study.Status.QUEUED
    db_proxy.start()
    study = wait_for_status(second["id"], Study.FINAL_STATUSES, timeout=120)
    assert study.status == Study.Status.COMPLETED and study.attempts == 1
    assert Prediction.objects.filter(study=study).count() == 1
    assert worker.poll() is None
