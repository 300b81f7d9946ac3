"""Redis down when a study is uploaded: the upload still succeeds, the study waits queued, the sweeper
re-enqueues it once Redis is back, and however often it sweeps there is exactly one prediction."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from audit.models import AuditEvent
from diagnosis.models import Prediction, Study
from diagnosis.services.studies import study_enqueue
from tests.conftest import wait_for_status
from tests.faults.conftest import broker_at, upload, worker_log


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connection refused, like a stopped Redis)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts TCP but never answers (a hung Redis): only timeouts can save the caller."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_publish_fails_fast_when_the_broker_is_refused_or_hung(fault_db, closed_port, black_hole):
    """study_enqueue returns False (never raises, never hangs) whether Redis refuses or hangs."""
    for port in (closed_port, black_hole):
        with broker_at(f"redis://127.0.0.1:{port}/0"):
            started = time.monotonic()
            assert study_enqueue(study_id="00000000-0000-4000-8000-000000000000") is False
            elapsed = time.monotonic() - started
        print(
            f"publish to {'refused' if port == closed_port else 'hung'} broker gave up after {elapsed:.2f} s"
        )
        assert elapsed < 15, "publishing hung instead of failing fast"


def test_upload_during_redis_outage_is_saved_queued_then_processed_once(
    api, alice, client, admin_user, xray_bytes, closed_port, workers, tmp_path
):
    # 1. Redis is down for the web process: the upload still answers 201 and the study is queued.
    with broker_at(f"redis://127.0.0.1:{closed_port}/0"):
        body = upload(api, alice, xray_bytes)
        client.force_login(admin_user)
        health = client.get("/healthz")
    assert body["status"] == "queued"
    assert health.status_code == 503 and health.json()["checks"]["broker"].startswith("broker unreachable")
    study = Study.objects.get(id=body["id"])
    assert study.status == Study.Status.QUEUED and study.attempts == 0
    assert AuditEvent.objects.filter(action="study.upload", object_id=body["id"]).count() == 1
    # 2. Redis is back; a worker with beat sweeps every 2 s and treats 3 s in queued as stuck.
    worker = workers(
        env={"AIRSPACE_SWEEP_SECONDS": "2", "AIRSPACE_STUCK_AFTER_SECONDS": "3"},
        extra=["-B", "-s", str(tmp_path / "beat-schedule")],
    )
    study = wait_for_status(body["id"], Study.FINAL_STATUSES, timeout=90)
    assert study.status == Study.Status.COMPLETED, study.status_reason
    # 3. More sweeps and a duplicate delivery change nothing: one prediction, one audit row.
    assert study_enqueue(study_id=study.id) is True
    time.sleep(5)
    assert Prediction.objects.filter(study=study).count() == 1
    prediction = Prediction.objects.get(study=study)
    assert AuditEvent.objects.filter(action="prediction.create", object_id=str(prediction.id)).count() == 1
    assert "sweep_stuck_studies_task" in worker_log(worker)
    assert api.get(f"/api/v1/studies/{study.id}/?poll=1").json()["prediction"]["id"] == str(prediction.id)


def test_sweeper_never_creates_a_second_prediction(api, alice, xray_bytes, workers, settings):
    """A queued study enqueued by upload and by several sweeps in a row is predicted once."""
    from diagnosis.services.sweeper import sweep_stuck_studies

    settings.AIRSPACE_STUCK_AFTER_SECONDS = 0
    body = upload(api, alice, xray_bytes)
    swept = sum(sweep_stuck_studies() for _ in range(3))
    assert swept == 3  # three extra messages for the same study
    workers()
    study = wait_for_status(body["id"], Study.FINAL_STATUSES, timeout=90)
    time.sleep(3)  # let the duplicate deliveries run
    assert study.status == Study.Status.COMPLETED and study.attempts == 1
    assert Prediction.objects.filter(study=study).count() == 1
    assert sweep_stuck_studies() == 0  # finished studies are never swept
