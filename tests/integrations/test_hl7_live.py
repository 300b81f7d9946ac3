"""HL7 end to end on real parts: upload -> real Celery worker (Redis, PostgreSQL) records the prediction ->
ORU P to a loopback MLLP listener that is down at first, then up; a signed read then sends the ORU F."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from integrations.models import Hl7Delivery
from tests.conftest import require_services, start_worker, stop_worker, wait_for_status, xray_paths
from tests.integrations.mllp_listener import MllpListener, free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(predicate: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_down_then_up_listener_gets_preliminary_then_final_once_each(api, alice, carol, settings):
    require_services()
    port = free_port()
    hl7 = {
        "AIRSPACE_HL7_HOST": "127.0.0.1",
        "AIRSPACE_HL7_PORT": str(port),
        "AIRSPACE_HL7_RETRY_SECONDS": "1",
    }
    settings.AIRSPACE_HL7_HOST, settings.AIRSPACE_HL7_PORT = "127.0.0.1", port
    worker = start_worker(settings, env=hl7, log_name="hl7-worker")
    listener = None
    try:
        api.force_authenticate(alice)
        path = xray_paths()[-1]
        image = SimpleUploadedFile(path.name, path.read_bytes(), content_type="image/jpeg")
        response = api.post(
            "/api/v1/studies/",
            {"image": image, "patient_mrn": "HL7-1", "accession_number": "ACC-HL7-1"},
            format="multipart",
        )
        assert response.status_code == 201, response.content
        study_id = response.json()["id"]
        assert wait_for_status(study_id, ("completed", "failed", "rejected")).status == "completed"
        # 1. The listener is down: the worker's first attempt fails and the delivery waits for a retry.
        wait_for(
            # (a failed attempt, recorded: attempts counts from the claim, before the connection is tried)
            lambda: (
                Hl7Delivery.objects.filter(study_id=study_id, state="pending").exclude(last_error="").exists()
            ),
            "a failed first attempt",
        )
        # 2. Up: the retry (backoff 1 s, 2 s, ...) delivers it, once.
        listener = MllpListener(port=port)
        wait_for(
            lambda: Hl7Delivery.objects.filter(study_id=study_id, state="delivered").exists(), "delivery"
        )
        api.force_authenticate(carol)
        assert api.post(f"/api/v1/studies/{study_id}/claim/").status_code == 200
        signed = api.post(f"/api/v1/studies/{study_id}/review/", {"decision": "agree"}, format="json")
        assert signed.status_code in (200, 201), signed.content
        wait_for(
            lambda: Hl7Delivery.objects.filter(study_id=study_id, state="delivered").count() == 2, "final"
        )
        time.sleep(2)  # room for any duplicate to arrive
    finally:
        stop_worker(worker)
        if listener is not None:
            listener.close()
    orders = [m.ORU_R01_PATIENT_RESULT.ORU_R01_ORDER_OBSERVATION.OBR for m in listener.received]
    assert [(o.obr_3.value, o.obr_25.value) for o in orders] == [("ACC-HL7-1", "P"), ("ACC-HL7-1", "F")]
    prelim = Hl7Delivery.objects.get(study_id=study_id, event="preliminary")
    assert prelim.attempts >= 2 and prelim.last_error == ""
