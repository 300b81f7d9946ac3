"""Results back into the original study: the AI SR, the heatmap capture and each signed read reach a real
Orthanc (C-STORE and STOW-RS), are read back from its REST API, and the delivery state is shown and audited.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pydicom
import pytest
from django.utils import timezone

from audit.models import AuditEvent
from diagnosis.models import Department, Study
from pacs.dicom_objects.uids import ai_sr_uid
from pacs.models import DicomDelivery, DicomNode, ReceivedInstance
from pacs.services.deliveries import (
    deliveries_for_prediction,
    dicom_deliver,
    dicom_retry_delay,
    dicom_sweep_lost,
)
from reading.services.reviews import review_submit
from tests.pacs.orthanc import Orthanc, orthanc_restart, orthanc_stop
from tests.pacs.results import dicom_study, outbound_node, prediction_recorded
from tests.pacs.sr_content import ai_probability, values

pytestmark = pytest.mark.django_db


@pytest.fixture
def pacs(orthanc: Orthanc) -> Any:
    return outbound_node(host="127.0.0.1", port=orthanc.dicom_port, ae_title=orthanc.aet)


def stored(orthanc: Orthanc) -> dict[str, pydicom.Dataset]:
    """What arrived in Orthanc, read back as files: SOP instance UID -> dataset."""
    files = [orthanc.get(f"/instances/{i}/file") for i in orthanc.get("/instances")]
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in files]
    return {str(ds.SOPInstanceUID): ds for ds in datasets}


def deliver_all(study: Study) -> list[str]:
    return [dicom_deliver(delivery_id=d.id).status for d in DicomDelivery.objects.filter(study=study)]


def test_sr_and_capture_arrive_in_the_original_study_with_the_apis_probability(orthanc, pacs, alice, api):
    study, original = dicom_study(created_by=alice)
    buffer = io.BytesIO()
    original.save_as(buffer, enforce_file_format=True)
    orthanc.upload(buffer.getvalue())  # the PACS holds the original study
    prediction = prediction_recorded(study, probability=0.8312)
    assert [d.kind for d in DicomDelivery.objects.filter(study=study)] == ["sr", "sc"]
    assert deliver_all(study) == ["delivered", "delivered"]

    objects = stored(orthanc)
    assert len(orthanc.get("/studies")) == 1  # filed into the original study, not beside it
    assert {str(ds.StudyInstanceUID) for ds in objects.values()} == {original.StudyInstanceUID}
    sr = objects[ai_sr_uid(original.StudyInstanceUID, str(prediction.id))]
    (sc,) = [ds for ds in objects.values() if ds.Modality == "OT"]
    assert sr.SeriesDescription == "Airspace AI output" and sc.BurnedInAnnotation == "YES"
    assert (sr.PatientID, sr.AccessionNumber) == (original.PatientID, original.AccessionNumber)
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID

    api.force_authenticate(alice)
    body = api.get(f"/api/v1/studies/{study.id}/").json()
    assert ai_probability(sr) == pytest.approx(body["prediction"]["probability"])
    assert [(d["kind"], d["status"], d["attempts"], d["destination"]) for d in body["deliveries"]] == [
        ("sr", "delivered", 1, "hospital-pacs"),
        ("sc", "delivered", 1, "hospital-pacs"),
    ]
    actions = list(AuditEvent.objects.filter(object_id=str(study.id)).values_list("action", flat=True))
    assert actions.count("dicom.queue") == 2 and actions.count("dicom.delivered") == 2


def test_an_override_and_an_amendment_each_send_a_read_sr_and_the_ai_sr_is_never_altered(
    orthanc, pacs, alice, carol, dave
):
    study, original = dicom_study(created_by=alice)
    prediction = prediction_recorded(study, probability=0.91)
    deliver_all(study)
    ai_uid = ai_sr_uid(original.StudyInstanceUID, str(prediction.id))
    ai_before = orthanc.get(f"/instances/{orthanc.get('/instances')[0]}/file")

    first = review_submit(
        user=carol, study=study, decision="override", final_label="NORMAL", reason="false_alarm"
    )
    amended = review_submit(
        user=dave, study=study, decision="agree", amendment_reason="Second look: consolidation is there"
    )
    assert deliver_all(study) == ["skipped", "skipped", "delivered", "delivered"]  # the AI's were sent

    objects = stored(orthanc)
    reads = sorted(
        (ds for ds in objects.values() if ds.get("VerificationFlag") == "VERIFIED"),
        key=lambda d: d.InstanceNumber,
    )
    assert len(objects) == 4 and len(reads) == 2
    override, amendment = (values(ds) for ds in reads)
    assert override[("99AIRSPACE", "ai-agreement")] == [("99AIRSPACE", "override")]
    assert override[("SCT", "233604007")] == [("SCT", "2667000")]  # final read: pneumonia absent
    assert override[("99AIRSPACE", "override-reason")] == ["Model false alarm"]
    assert str(reads[0].VerifyingObserverSequence[0].VerifyingObserverName) == "carol^"
    assert str(reads[1].VerifyingObserverSequence[0].VerifyingObserverName) == "dave^"
    assert amendment[("99AIRSPACE", "amendment-reason")] == ["Second look: consolidation is there"]

    def predecessors(ds: pydicom.Dataset) -> set[str]:
        series = ds.PredecessorDocumentsSequence[0].ReferencedSeriesSequence
        return {ref.ReferencedSOPInstanceUID for s in series for ref in s.ReferencedSOPSequence}

    assert predecessors(reads[0]) == {ai_uid}
    assert predecessors(reads[1]) == {ai_uid, str(reads[0].SOPInstanceUID)}
    assert {str(r.SOPInstanceUID) for r in reads} == {
        d.sop_instance_uid
        for d in DicomDelivery.objects.filter(kind="review_sr", source_id__in=[first.id, amended.id])
    }
    ai_id = next(
        i
        for i in orthanc.get("/instances")
        if orthanc.get(f"/instances/{i}/simplified-tags")["SOPInstanceUID"] == ai_uid
    )
    assert orthanc.get(f"/instances/{ai_id}/file") == ai_before  # the AI's SR is byte-for-byte as first sent


def test_orthanc_down_then_up_gets_each_object_exactly_once(orthanc, pacs, alice):
    study, original = dicom_study(created_by=alice)
    prediction_recorded(study)
    orthanc_stop(orthanc)
    outcomes = [dicom_deliver(delivery_id=d.id) for d in DicomDelivery.objects.filter(study=study)]
    assert [(o.status, o.attempts) for o in outcomes] == [("pending", 1), ("pending", 1)]
    row = DicomDelivery.objects.filter(study=study).first()
    assert "Association" in row.last_error and row.next_attempt_at is not None

    assert deliver_all(study) == ["skipped", "skipped"]  # a redelivered copy before the due time: dropped
    orthanc_restart(orthanc)
    DicomDelivery.objects.filter(study=study).update(next_attempt_at=timezone.now())  # the retry is due
    assert deliver_all(study) == ["delivered", "delivered"]
    assert deliver_all(study) == ["skipped", "skipped"]  # a repeated task finds nothing to send
    uids = [
        orthanc.get(f"/instances/{i}/simplified-tags")["SOPInstanceUID"] for i in orthanc.get("/instances")
    ]
    assert sorted(uids) == sorted(
        DicomDelivery.objects.filter(study=study).values_list("sop_instance_uid", flat=True)
    )
    assert list(DicomDelivery.objects.filter(study=study).values_list("attempts", flat=True)) == [2, 2]


def test_retries_outlast_a_pacs_down_for_an_hour(settings):
    waits = [dicom_retry_delay(n) for n in range(1, settings.AIRSPACE_DICOM_MAX_ATTEMPTS)]
    assert sum(waits) > 2 * 3600 and max(waits) <= settings.AIRSPACE_DICOM_RETRY_MAX_SECONDS


def test_stow_rs_to_the_dicomweb_url(orthanc, alice):
    outbound_node(host="127.0.0.1", port=1, ae_title="UNUSED", url=f"{orthanc.url}/dicom-web")
    study, original = dicom_study(created_by=alice)
    prediction_recorded(study)
    assert deliver_all(study) == ["delivered", "delivered"]
    assert {ds.StudyInstanceUID for ds in stored(orthanc).values()} == {original.StudyInstanceUID}
    answers = AuditEvent.objects.filter(action="dicom.delivered").values_list("after", flat=True)
    assert all(a["answer"] == "STOW-RS HTTP 200" for a in answers)


def test_only_studies_from_dicom_or_stow_reach_outbound_nodes_of_their_department(alice):
    outbound_node(host="127.0.0.1", port=104, ae_title="PACS")
    study, _ = dicom_study(created_by=alice)
    Study.objects.filter(id=study.id).update(source=Study.Source.UPLOAD)
    prediction_recorded(Study.objects.get(id=study.id))
    assert not DicomDelivery.objects.exists()  # an upload has no study in the PACS to file into

    other, _ = dicom_study(created_by=alice)
    prediction = prediction_recorded(other)
    assert DicomDelivery.objects.filter(study=other).count() == 2
    assert deliveries_for_prediction(prediction=prediction) == []  # scheduled once per node and object

    stowed, _ = dicom_study(created_by=alice)
    Study.objects.filter(id=stowed.id).update(source=Study.Source.STOW)
    prediction_recorded(Study.objects.get(id=stowed.id))
    assert DicomDelivery.objects.filter(study=stowed).count() == 2  # STOW-RS studies are filed back too

    Department.objects.create(name="Elsewhere")
    DicomNode.objects.update(department=Department.objects.get(name="Elsewhere"))
    elsewhere, _ = dicom_study(created_by=alice)
    prediction_recorded(elsewhere)
    assert not DicomDelivery.objects.filter(study=elsewhere).exists()  # a node of another department


def test_an_object_that_cannot_be_built_fails_at_once_with_its_reason(alice):
    outbound_node(host="127.0.0.1", port=104, ae_title="PACS")
    study, _ = dicom_study(created_by=alice)
    ReceivedInstance.objects.filter(image__study=study).update(image=None)  # no original instance on record
    prediction_recorded(study)
    sr = DicomDelivery.objects.get(study=study, kind="sr")
    outcome = dicom_deliver(delivery_id=sr.id)
    sr.refresh_from_db()
    assert (outcome.status, sr.status, sr.attempts) == ("failed", "failed", 1)
    assert sr.last_error == "The analysed image has no original DICOM UIDs to reference."
    assert AuditEvent.objects.filter(action="dicom.failed", object_id=str(study.id)).exists()


def test_the_sweep_sends_again_a_pending_delivery_whose_task_was_lost(alice, settings):
    outbound_node(host="127.0.0.1", port=104, ae_title="PACS")
    study, _ = dicom_study(created_by=alice)
    prediction_recorded(study)
    rows = DicomDelivery.objects.filter(study=study)
    rows.update(next_attempt_at=timezone.now() - timedelta(hours=2))  # both tasks lost (broker restarted)
    found = dicom_sweep_lost()
    assert found == [d.id for d in rows]
    assert dicom_sweep_lost() == []  # due now, so not found again within the grace period: no flood
    outcome = dicom_deliver(delivery_id=found[0])  # the re-sent task may claim it at once
    assert (outcome.status, outcome.attempts) == ("pending", 1)  # nobody listens on port 104 here
