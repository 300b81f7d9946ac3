"""Studies arriving for real: a modality (DCMTK storescu) and a PACS (Orthanc forwarding over C-STORE) send
to `dicom_listen`; a real Celery worker files the study after the quiet window and predicts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from audit.models import AuditEvent
from diagnosis.models import Department, Prediction, Study
from pacs.models import InboundStudy, ReceivedInstance
from pacs.services.nodes import NodeSpec, dicom_node_add
from tests.conftest import start_worker, stop_worker, wait_for_status
from tests.fixtures.pacs_dicoms import FOLDER, fixture
from tests.pacs.listener import Listener
from tests.pacs.orthanc import Orthanc

pytestmark = pytest.mark.slow


@pytest.fixture
def quiet_worker(services: None, transactional_db: None, settings: Any) -> Iterator[Any]:
    """A real worker with the same 1 s quiet window as the listener."""
    proc = start_worker(settings, env={"AIRSPACE_DICOM_STUDY_QUIET_SECONDS": "1"})
    try:
        yield proc
    finally:
        stop_worker(proc)


def _study_for(uid: str, timeout: float = 60) -> Study:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        study = Study.objects.filter(study_instance_uid=uid).first()
        if study is not None:
            return study
        time.sleep(0.2)
    inbound = InboundStudy.objects.filter(study_instance_uid=uid).first()
    raise AssertionError(f"no study filed for {uid}: {inbound and (inbound.state, inbound.error)}")


def test_paediatric_chest_dx_from_a_modality_is_filed_and_predicted(
    dicom_listener: Listener, quiet_worker: Any
) -> None:
    Department.objects.create(name="Paediatrics")
    node = dicom_node_add(
        spec=NodeSpec(
            name="xray-1",
            ae_title="XRAY1",
            host="127.0.0.1",
            port=104,
            inbound=True,
            department="Paediatrics",
        )
    )
    sent = dicom_listener.storescu("XRAY1", FOLDER / "chest_dx_child.dcm", FOLDER / "knee_dx.dcm")
    assert sent.returncode == 0 and sent.stderr.count("Store Response (Success)") == 2, sent.stderr
    uid = ReceivedInstance.objects.get(status="accepted").study_instance_uid

    study = wait_for_status(_study_for(uid).id, ("completed", "failed", "rejected"))
    assert study.status == "completed", study.status_reason
    assert (study.source, study.created_by_id) == ("dicom", node.service_user.id)
    prediction = Prediction.objects.get(study=study)
    assert 0 <= prediction.probability <= 1 and prediction.model_version
    assert ReceivedInstance.objects.get(status="accepted").image_id == prediction.image_id
    assert ReceivedInstance.objects.get(status="ignored").rule == "body_part"
    actions = set(
        AuditEvent.objects.filter(object_id__in=[str(study.id), str(prediction.id)]).values_list(
            "action", flat=True
        )
    )
    assert {"study.upload", "prediction.create"} <= actions


def test_orthanc_forwards_a_study_to_airspace(dicom_listener: Listener, orthanc: Orthanc) -> None:
    dicom_node_add(
        spec=NodeSpec(
            name="pacs", ae_title="ORTHANC", host="127.0.0.1", port=orthanc.dicom_port, inbound=True
        )
    )
    for name in ("chest_dx_child.dcm", "chest_dx_child_2.dcm", "chest_dx_lateral.dcm"):
        orthanc.upload(fixture(name))
    orthanc.add_modality("AIRSPACE", "AIRSPACE", "127.0.0.1", dicom_listener.port)
    studies = orthanc.get("/studies")
    answer = orthanc.store_to("AIRSPACE", studies)
    assert answer["FailedInstancesCount"] == 0 and answer["InstancesCount"] == 3, answer
    rows = ReceivedInstance.objects.order_by("id")
    assert sorted(r.status for r in rows) == ["accepted", "accepted", "ignored"]
    child_uid = rows.filter(status="accepted").first().study_instance_uid
    inbound = InboundStudy.objects.get(study_instance_uid=child_uid)
    assert (
        inbound.node.name == "pacs"
        and inbound.patient_id == "PACS-0001"
        and inbound.issuer_of_patient_id == "HOSP"
    )
    assert inbound.instances.filter(status="accepted").count() == 2
