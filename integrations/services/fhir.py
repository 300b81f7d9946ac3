"""A study as a FHIR R4 Bundle (type collection): the report, its observations, the patient and the study.

Pure mapping from records already read by the caller (no query of its own beyond the prefetched lists), so
the API view can scope and audit the read the way every other study read is scoped and audited. The codes
and elements chosen are documented in docs/INTEGRATION.md ("FHIR R4").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from diagnosis.models import Patient, Prediction, Study
from diagnosis.selectors import current_prediction
from reading.models import ReadLabel, Review
from reading.selectors import current_review

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# Airspace's own identifier and code systems (URNs: no web page has to exist for them).
MRN_SYSTEM = "urn:airspace:mrn"
USER_SYSTEM = "urn:airspace:user"
READ_LABEL_SYSTEM = "urn:airspace:read-label"

CHEST_XRAY = {"system": LOINC, "code": "36554-4", "display": "XR Chest Single view"}
PNEUMONIA = {"system": SNOMED, "code": "233604007", "display": "Pneumonia"}
AI_NOTE = "AI decision support — not a diagnosis"
_GENDER = {"F": "female", "M": "male", "O": "other", "U": "unknown"}
_POSITIVE = {"system": SNOMED, "code": "10828004", "display": "Positive"}
_NEGATIVE = {"system": SNOMED, "code": "260385009", "display": "Negative"}
_CLOSED_WITHOUT_RESULT = (Study.Status.FAILED, Study.Status.REJECTED, Study.Status.CANCELLED)


def _when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ref(resource_type: str, resource_id: object) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


def _concept(*codings: dict[str, str], text: str = "") -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": list(codings)}
    if text:
        concept["text"] = text
    return concept


def _drop_empty(resource: dict[str, Any]) -> dict[str, Any]:
    """FHIR forbids empty elements: leave out None, "" and []."""
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


def report_status(study: Study) -> str:
    """DiagnosticReport.status: amended after an amendment, final once read, preliminary with only the AI."""
    review = current_review(study)
    if review is not None:
        return "amended" if review.version > 1 else "final"
    if current_prediction(study) is not None:
        return "preliminary"
    return "cancelled" if study.status in _CLOSED_WITHOUT_RESULT else "registered"


def patient_resource(patient: Patient) -> dict[str, Any]:
    """The Patient, identified by its MRN."""
    mrn_type = _concept({"system": V2_0203, "code": "MR", "display": "Medical record number"})
    return _drop_empty(
        {
            "resourceType": "Patient",
            "id": str(patient.id),
            "identifier": [{"use": "usual", "type": mrn_type, "system": MRN_SYSTEM, "value": patient.mrn}],
            "name": [{"text": patient.name}] if patient.name else [],
            "gender": _GENDER.get(patient.sex, "unknown"),
            "birthDate": _when(patient.birth_date),
        }
    )


def imaging_study_resource(study: Study) -> dict[str, Any]:
    """The ImagingStudy: accession number, date, modality DX, how many images."""
    images = list(study.images.all())
    accession = []
    if study.accession_number:
        acsn = _concept({"system": V2_0203, "code": "ACSN", "display": "Accession ID"})
        accession = [{"type": acsn, "value": study.accession_number}]
    return _drop_empty(
        {
            "resourceType": "ImagingStudy",
            "id": str(study.id),
            "identifier": accession,
            "status": "available" if images else "registered",
            "modality": [{"system": DICOM_DCM, "code": "DX", "display": "Digital Radiography"}],
            "subject": _ref("Patient", study.patient_id),
            "started": _when(study.created_at),
            "numberOfInstances": len(images) or None,
            "procedureCode": [_concept(CHEST_XRAY)],
            "description": "Chest X-ray",
        }
    )


def _interpretation(prediction: Prediction) -> dict[str, Any]:
    if prediction.indeterminate:
        return _concept({"system": INTERPRETATION, "code": "IND", "display": "Indeterminate"})
    if prediction.label == "PNEUMONIA":
        return _concept({"system": INTERPRETATION, "code": "POS", "display": "Positive"})
    return _concept({"system": INTERPRETATION, "code": "NEG", "display": "Negative"})


def ai_observation_resource(study: Study, prediction: Prediction) -> dict[str, Any]:
    """The AI finding: calibrated pneumonia probability, read at the model's operating point."""
    method = (
        f"Airspace AI model {prediction.model_version}, operating point threshold {prediction.threshold:g}"
    )
    notes = [{"text": AI_NOTE}, *({"text": notice} for notice in prediction.notices)]
    return {
        "resourceType": "Observation",
        "id": f"ai-{prediction.id}",
        "status": "preliminary",
        "category": [_concept({"system": OBS_CATEGORY, "code": "imaging", "display": "Imaging"})],
        "code": _concept(PNEUMONIA, text="Pneumonia probability (AI)"),
        "subject": _ref("Patient", study.patient_id),
        "effectiveDateTime": _when(prediction.created_at),
        "valueQuantity": {
            "value": round(prediction.probability, 6),
            "unit": "probability",
            "system": UCUM,
            "code": "1",
        },
        "interpretation": [_interpretation(prediction)],
        "method": {"text": method},
        "note": notes,
        "derivedFrom": [_ref("ImagingStudy", study.id)],
    }


def _read_value(review: Review) -> dict[str, Any]:
    label = ReadLabel(review.final_label)
    local = {"system": READ_LABEL_SYSTEM, "code": label.value, "display": label.label}
    text = label.label
    if label == ReadLabel.NON_DIAGNOSTIC:
        return _concept(local, text=f"{text}: {Review.Reason(review.reason).label}")
    return _concept(_POSITIVE if label == ReadLabel.PNEUMONIA else _NEGATIVE, local, text=text)


def read_observation_resource(study: Study, review: Review) -> dict[str, Any]:
    """The radiologist's signed read of the current version (amended when it replaced an earlier one)."""
    reader = review.reviewer
    notes = [review.note, f"Amended: {review.amendment_reason}" if review.previous_id else ""]
    return _drop_empty(
        {
            "resourceType": "Observation",
            "id": f"read-{review.id}",
            "status": "amended" if review.version > 1 else "final",
            "category": [_concept({"system": OBS_CATEGORY, "code": "imaging", "display": "Imaging"})],
            "code": _concept(PNEUMONIA, text="Pneumonia (radiologist read)"),
            "subject": _ref("Patient", study.patient_id),
            "effectiveDateTime": _when(review.signed_at),
            "issued": _when(review.signed_at),
            "performer": [
                {
                    "identifier": {"system": USER_SYSTEM, "value": reader.get_username()},
                    "display": reader.get_full_name() or reader.get_username(),
                }
            ],
            "valueCodeableConcept": _read_value(review),
            "note": [{"text": text} for text in notes if text],
            "derivedFrom": [_ref("ImagingStudy", study.id)],
        }
    )


def diagnostic_report_resource(study: Study, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The DiagnosticReport leading the bundle, pointing at the study and the observations."""
    review = current_review(study)
    return _drop_empty(
        {
            "resourceType": "DiagnosticReport",
            "id": str(study.id),
            "identifier": imaging_study_resource(study).get("identifier", []),
            "status": report_status(study),
            "category": [_concept({"system": V2_0074, "code": "RAD", "display": "Radiology"})],
            "code": _concept(CHEST_XRAY),
            "subject": _ref("Patient", study.patient_id),
            "effectiveDateTime": _when(study.created_at),
            "issued": _when(review.signed_at if review else study.completed_at),
            "resultsInterpreter": [
                {"identifier": {"system": USER_SYSTEM, "value": review.reviewer.get_username()}}
            ]
            if review
            else [],
            "imagingStudy": [_ref("ImagingStudy", study.id)],
            "result": [_ref("Observation", resource["id"]) for resource in results],
        }
    )


def study_fhir_bundle(*, study: Study, base_url: str) -> dict[str, Any]:
    """The study as a Bundle of type collection; `base_url` ends in "/" and prefixes each fullUrl."""
    results = []
    prediction = current_prediction(study)
    if prediction is not None:
        results.append(ai_observation_resource(study, prediction))
    review = current_review(study)
    if review is not None:
        results.append(read_observation_resource(study, review))
    resources = [
        diagnostic_report_resource(study, results),
        *results,
        patient_resource(study.patient),
        imaging_study_resource(study),
    ]
    return {
        "resourceType": "Bundle",
        "id": str(study.id),
        "type": "collection",
        "timestamp": _when(study.updated_at),
        "entry": [{"fullUrl": f"{base_url}{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
