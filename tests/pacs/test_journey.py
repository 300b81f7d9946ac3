"""The whole way round, every part real: DCMTK storescu (the X-ray unit) -> dicom_listen -> the Celery worker
runs the model -> the AI SR and the heatmap capture arrive in Orthanc (the PACS) in the original study, the
SR's probability equal to the API's -> a radiologist overrides in the API -> the read SR arrives too.
"""

from __future__ import annotations

import io
import time
from typing import Any

import pydicom
import pytest

from diagnosis.models import Department, Study
from pacs.models import DicomDelivery
from pacs.services.nodes import NodeSpec, dicom_node_add
from tests.conftest import start_worker, stop_worker, wait_for_status
from tests.fixtures.pacs_dicoms import FOLDER
from tests.pacs.listener import Listener
from tests.pacs.orthanc import Orthanc, orthanc_restart, orthanc_stop
from tests.pacs.results import dicom_study, outbound_node, prediction_recorded
from tests.pacs.sr_content import ai_probability, values

pytestmark = pytest.mark.slow


def wait_delivered(study: Study, count: int, timeout: float = 180) -> list[DicomDelivery]:
    """Poll until `count` deliveries of the study are delivered (the worker sends them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(DicomDelivery.objects.filter(study=study))
        if sum(r.status == "delivered" for r in rows) >= count:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"not delivered: {[(r.kind, r.status, r.last_error) for r in rows]}")


def in_orthanc(orthanc: Orthanc) -> dict[str, pydicom.Dataset]:
    files = [orthanc.get(f"/instances/{i}/file") for i in orthanc.get("/instances")]
    return {str(ds.SOPInstanceUID): ds for ds in (pydicom.dcmread(io.BytesIO(f)) for f in files)}


def test_storescu_to_results_in_orthanc_then_an_override_sends_the_read(
    orthanc: Orthanc, dicom_listener: Listener, celery_worker: Any, api: Any, admin_user: Any, carol: Any
) -> None:
    Department.objects.get_or_create(name="Paediatrics")
    dicom_node_add(
        spec=NodeSpec(
            name="xray1", ae_title="XRAY1", host="127.0.0.1", port=104, inbound=True, department="Paediatrics"
        )
    )
    outbound_node(host="127.0.0.1", port=orthanc.dicom_port, ae_title=orthanc.aet)
    original = (FOLDER / "chest_dx_child.dcm").read_bytes()
    orthanc.upload(original)  # the modality also sent the film to the PACS
    source = pydicom.dcmread(io.BytesIO(original))

    sent = dicom_listener.storescu("XRAY1", FOLDER / "chest_dx_child.dcm")
    assert sent.returncode == 0, sent.stderr
    deadline = time.monotonic() + 180  # generous: CI shares two cores with everything else
    while not Study.objects.filter(study_instance_uid=source.StudyInstanceUID).exists():
        assert time.monotonic() < deadline, "the listener never filed the study"
        time.sleep(0.2)
    filed = Study.objects.get(study_instance_uid=source.StudyInstanceUID)
    study = wait_for_status(filed.id, ("completed",), timeout=180)
    sr_row, sc_row = wait_delivered(study, 2)
    assert sr_row.kind == "sr" and sr_row.delivered_at <= sc_row.delivered_at  # the capture follows its SR

    objects = in_orthanc(orthanc)
    assert len(orthanc.get("/studies")) == 1 and len(objects) == 3  # the film, the SR and the capture
    assert {str(ds.StudyInstanceUID) for ds in objects.values()} == {source.StudyInstanceUID}
    (sr,) = [ds for ds in objects.values() if ds.Modality == "SR"]
    (sc,) = [ds for ds in objects.values() if ds.Modality == "OT"]
    assert str(sr.PatientID) == str(source.PatientID) and sc.BurnedInAnnotation == "YES"
    api.force_authenticate(admin_user)
    body = api.get(f"/api/v1/studies/?study_instance_uid={source.StudyInstanceUID}").json()["results"][0]
    assert ai_probability(sr) == pytest.approx(body["prediction"]["probability"], abs=1e-6)
    referenced = values(sr)[("DCM", "121112")]
    assert referenced == [(str(source.SOPClassUID), str(source.SOPInstanceUID))]  # the film as sent

    other = "NORMAL" if body["prediction"]["label"] == "PNEUMONIA" else "PNEUMONIA"
    reason = "false_alarm" if other == "NORMAL" else "missed_finding"
    api.force_authenticate(carol)
    review = api.post(
        f"/api/v1/studies/{study.id}/review/",
        {"decision": "override", "final_label": other, "reason": reason},
    )
    assert review.status_code in (200, 201), review.content
    wait_delivered(study, 3)
    objects = in_orthanc(orthanc)
    (read,) = [ds for ds in objects.values() if ds.get("VerificationFlag") == "VERIFIED"]
    assert read.StudyInstanceUID == source.StudyInstanceUID and len(objects) == 4
    assert values(read)[("99AIRSPACE", "ai-agreement")] == [("99AIRSPACE", "override")]
    predecessor = read.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert predecessor.ReferencedSOPInstanceUID == sr.SOPInstanceUID
    api.force_authenticate(admin_user)
    deliveries = api.get(f"/api/v1/studies/{study.id}/").json()["deliveries"]
    assert [(d["kind"], d["status"]) for d in deliveries] == [
        ("sr", "delivered"),
        ("sc", "delivered"),
        ("review_sr", "delivered"),
    ]


def test_orthanc_down_then_up_the_worker_retries_with_backoff_and_files_each_object_once(
    orthanc: Orthanc, services: None, transactional_db: None, settings: Any, alice: Any
) -> None:
    outbound_node(host="127.0.0.1", port=orthanc.dicom_port, ae_title=orthanc.aet)
    retry = {"AIRSPACE_DICOM_RETRY_SECONDS": "1", "AIRSPACE_DICOM_RETRY_MAX_SECONDS": "2"}
    worker = start_worker(settings, env=retry, log_name="worker-dicom-down")
    try:
        orthanc_stop(orthanc)
        study, _ = dicom_study(created_by=alice)
        prediction_recorded(study)  # commits: both tasks go to the broker, the worker finds the PACS down
        deadline = time.monotonic() + 60
        while min(DicomDelivery.objects.filter(study=study).values_list("attempts", flat=True)) < 2:
            assert time.monotonic() < deadline, "the worker did not retry"
            time.sleep(0.2)
        assert set(DicomDelivery.objects.filter(study=study).values_list("status", flat=True)) == {"pending"}
        orthanc_restart(orthanc)
        rows = wait_delivered(study, 2)
    finally:
        stop_worker(worker)
    uids = [
        orthanc.get(f"/instances/{i}/simplified-tags")["SOPInstanceUID"] for i in orthanc.get("/instances")
    ]
    assert sorted(uids) == sorted(r.sop_instance_uid for r in rows)  # each object exactly once
    assert all(r.attempts >= 3 for r in rows)  # at least two refused attempts, then the one that landed
