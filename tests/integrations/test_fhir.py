"""Issue #18 item 2: GET /api/v1/studies/{id}/fhir/ returns a FHIR R4 Bundle that validates, resource by
resource, with fhir.resources (R4B models: R4 4.3, identical to 4.0.1 for the elements used here)."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from audit.models import AuditEvent
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db

MODELS = {
    "DiagnosticReport": DiagnosticReport,
    "Observation": Observation,
    "Patient": Patient,
    "ImagingStudy": ImagingStudy,
}


def fetch(api: Any, user: Any, study: Any) -> dict[str, Any]:
    """The study's bundle as `user` sees it, every resource validated; resources keyed by type and id."""
    api.force_authenticate(user)
    response = api.get(f"/api/v1/studies/{study.id}/fhir/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    Bundle.model_validate(body)
    assert body["type"] == "collection"
    for entry in body["entry"]:
        resource = entry["resource"]
        MODELS[resource["resourceType"]].model_validate(resource)
        assert entry["fullUrl"].endswith(f"/fhir/{resource['resourceType']}/{resource['id']}")
    return body


def resources(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == kind]


def ai_and_read(body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    observations = resources(body, "Observation")
    [ai] = [o for o in observations if o["id"].startswith("ai-")]
    return ai, [o for o in observations if o["id"].startswith("read-")]


def test_preliminary_before_the_read_carries_only_the_ai_finding(api, alice):
    study = completed_study(created_by=alice, probability=0.83, threshold=0.6)
    study.accession_number = "ACC-1"
    study.save()
    body = fetch(api, alice, study)
    [report] = resources(body, "DiagnosticReport")
    [patient] = resources(body, "Patient")
    [imaging] = resources(body, "ImagingStudy")
    ai, reads = ai_and_read(body)
    assert report["status"] == "preliminary" and reads == []
    assert report["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "36554-4",
        "display": "XR Chest Single view",
    }
    assert report["subject"] == {"reference": f"Patient/{study.patient_id}"} == ai["subject"]
    assert report["imagingStudy"] == [{"reference": f"ImagingStudy/{study.id}"}]
    assert report["result"] == [{"reference": f"Observation/{ai['id']}"}]
    assert report["identifier"][0]["value"] == "ACC-1" == imaging["identifier"][0]["value"]
    assert patient["identifier"][0]["value"] == study.patient.mrn
    assert imaging["numberOfInstances"] == 1
    # The AI finding: SNOMED CT pneumonia, the calibrated probability, read at the operating point.
    assert ai["code"]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "233604007", "display": "Pneumonia"}
    ]
    assert ai["valueQuantity"]["value"] == pytest.approx(0.83)
    assert ai["interpretation"][0]["coding"][0]["code"] == "POS"
    assert "test-model" in ai["method"]["text"] and "threshold 0.6" in ai["method"]["text"]
    assert ai["note"][0]["text"] == "AI decision support — not a diagnosis"
    event = AuditEvent.objects.get(action="study.fhir", object_id=str(study.id))
    assert event.actor == alice and event.after == {"report_status": "preliminary"}


def test_indeterminate_and_negative_interpretations(api, alice):
    unsure = completed_study(created_by=alice, probability=0.55, indeterminate=True)
    normal = completed_study(created_by=alice, probability=0.1)
    assert ai_and_read(fetch(api, alice, unsure))[0]["interpretation"][0]["coding"][0]["code"] == "IND"
    assert ai_and_read(fetch(api, alice, normal))[0]["interpretation"][0]["coding"][0]["code"] == "NEG"


def test_final_once_signed_then_amended_after_an_amendment(api, alice, carol, dave):
    study = completed_study(created_by=alice, probability=0.9)
    review_submit(user=carol, study=study, decision="override", final_label="NORMAL", reason="false_alarm")
    body = fetch(api, alice, study)
    [report] = resources(body, "DiagnosticReport")
    ai, [read] = ai_and_read(body)
    assert report["status"] == "final" and read["status"] == "final"
    assert report["result"] == [
        {"reference": f"Observation/{ai['id']}"},
        {"reference": f"Observation/{read['id']}"},
    ]
    assert read["valueCodeableConcept"]["coding"][0]["code"] == "260385009"  # negative for pneumonia
    assert read["performer"][0]["identifier"]["value"] == "carol"
    assert ai["valueQuantity"]["value"] == pytest.approx(0.9)  # the AI result stays as it was

    review_submit(
        user=dave,
        study=study,
        decision="override",
        final_label="NON_DIAGNOSTIC",
        reason="image_quality",
        amendment_reason="rotated film",
    )
    body = fetch(api, alice, study)
    [report] = resources(body, "DiagnosticReport")
    _, [read] = ai_and_read(body)
    assert report["status"] == "amended" and read["status"] == "amended"
    value = read["valueCodeableConcept"]
    assert value["coding"] == [
        {"system": "urn:airspace:read-label", "code": "NON_DIAGNOSTIC", "display": "Non-diagnostic"}
    ]
    assert value["text"] == "Non-diagnostic: Poor image quality"
    assert read["performer"][0]["identifier"]["value"] == "dave"
    assert {"text": "Amended: rotated film"} in read["note"]
    statuses = AuditEvent.objects.filter(action="study.fhir", object_id=str(study.id)).order_by("id")
    assert [e.after["report_status"] for e in statuses] == ["final", "amended"]


def test_a_radiologist_reads_the_bundle_too(api, alice, carol):
    study = completed_study(created_by=alice, probability=0.2)
    assert resources(fetch(api, carol, study), "DiagnosticReport")[0]["status"] == "preliminary"


def test_a_queued_study_is_registered_with_no_result(api, alice):
    from tests.diagnosis.factories import StudyFactory

    study = StudyFactory(created_by=alice)
    [report] = resources(fetch(api, alice, study), "DiagnosticReport")
    assert report["status"] == "registered" and "result" not in report


def test_outsider_gets_404_and_no_role_403_and_nothing_is_audited(api, alice, bob, nobody):
    study = completed_study(created_by=alice)
    api.force_authenticate(bob)
    assert api.get(f"/api/v1/studies/{study.id}/fhir/").status_code == 404
    api.force_authenticate(nobody)
    assert api.get(f"/api/v1/studies/{study.id}/fhir/").status_code == 403
    api.force_authenticate(None)
    assert api.get(f"/api/v1/studies/{study.id}/fhir/").status_code == 401
    assert not AuditEvent.objects.filter(action="study.fhir").exists()
