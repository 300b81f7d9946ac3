"""ORU^R01 (HL7 v2.5) for one delivery, built with hl7apy: PID, OBR, then an OBX per result, each with NTE.

The segment map is documented in docs/INTEGRATION.md ("HL7 v2 ORU^R01").
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.conf import settings
from django.utils import timezone
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Group, Message

from diagnosis.models import Patient, Prediction, Study
from integrations.models import Hl7Delivery
from reading.models import ReadLabel, Review

AI_NOTE = "AI decision support - not a diagnosis"
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
_READ_VALUE = {
    ReadLabel.PNEUMONIA: "10828004^Positive^SCT",
    ReadLabel.NORMAL: "260385009^Negative^SCT",
}


def hl7_text(value: object, limit: int = 200) -> str:
    """Free text made safe for one HL7 component: delimiters escaped, line breaks flattened."""
    text = " ".join(str(value).split())[:limit]
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def _ts(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
    return value.strftime("%Y%m%d")


def _msh(message: Message, delivery: Hl7Delivery) -> None:
    message.msh.msh_3 = "AIRSPACE"
    message.msh.msh_4 = hl7_text(settings.AIRSPACE_HL7_SENDING_FACILITY)
    message.msh.msh_5 = hl7_text(settings.AIRSPACE_HL7_RECEIVING_APPLICATION)
    message.msh.msh_6 = hl7_text(settings.AIRSPACE_HL7_RECEIVING_FACILITY)
    message.msh.msh_7 = _ts(timezone.now())
    message.msh.msh_9 = "ORU^R01^ORU_R01"
    message.msh.msh_10 = delivery.control_id
    message.msh.msh_11 = settings.AIRSPACE_HL7_PROCESSING_ID
    message.msh.msh_12 = "2.5"


def _pid(result: Group, patient: Patient) -> None:
    pid = result.add_group("ORU_R01_PATIENT").add_segment("PID")
    pid.pid_1 = "1"
    pid.pid_3 = f"{patient.mrn}^^^AIRSPACE^MR"  # the MRN format admits no HL7 delimiter
    pid.pid_5 = hl7_text(patient.name) if patient.name else '""'
    pid.pid_7 = _ts(patient.birth_date)
    pid.pid_8 = patient.sex


def _obr(order: Group, study: Study, delivery: Hl7Delivery, reported: datetime | None) -> None:
    obr = order.add_segment("OBR")
    obr.obr_1 = "1"
    obr.obr_2 = str(study.id).replace("-", "")[:22]  # placer order: the Airspace study
    obr.obr_3 = hl7_text(study.accession_number or str(study.id), 22)  # filler order: the accession
    obr.obr_4 = "36554-4^XR Chest Single view^LN"
    obr.obr_7 = _ts(study.created_at)
    obr.obr_22 = _ts(reported)
    obr.obr_24 = "RAD"
    obr.obr_25 = delivery.result_status


def _note(observation: Group, text: str) -> None:
    nte = observation.add_segment("NTE")
    nte.nte_1 = "1"
    nte.nte_3 = hl7_text(text, 1000)


def _ai_obx(order: Group, prediction: Prediction, status: str) -> None:
    observation = order.add_group("ORU_R01_OBSERVATION")
    obx = observation.add_segment("OBX")
    obx.obx_1 = "1"
    obx.obx_2 = "NM"
    obx.obx_3 = "233604007^Pneumonia probability (AI)^SCT"
    obx.obx_5 = f"{prediction.probability:.4f}"
    obx.obx_6 = "1^probability^UCUM"
    obx.obx_8 = "IND" if prediction.indeterminate else ("POS" if prediction.label == "PNEUMONIA" else "NEG")
    obx.obx_11 = status
    obx.obx_14 = _ts(prediction.created_at)
    obx.obx_17 = (
        f"^{hl7_text(f'Airspace AI model {prediction.model_version} threshold {prediction.threshold:g}')}"
    )
    _note(observation, AI_NOTE)


def _read_obx(order: Group, review: Review, status: str) -> None:
    observation = order.add_group("ORU_R01_OBSERVATION")
    obx = observation.add_segment("OBX")
    obx.obx_1 = "2"
    obx.obx_2 = "CE"
    obx.obx_3 = "233604007^Pneumonia (radiologist read)^SCT"
    label = ReadLabel(review.final_label)
    reason = f": {Review.Reason(review.reason).label}" if label == ReadLabel.NON_DIAGNOSTIC else ""
    obx.obx_5 = _READ_VALUE.get(label, f"NON_DIAGNOSTIC^{hl7_text('Non-diagnostic' + reason)}^L")
    obx.obx_11 = status
    obx.obx_14 = _ts(review.signed_at)
    reader = review.reviewer
    obx.obx_16 = "^".join(
        hl7_text(part, 60) for part in (reader.get_username(), reader.last_name, reader.first_name)
    )
    for text in (review.note, f"Amended: {review.amendment_reason}" if review.previous_id else ""):
        if text:
            _note(observation, text)


def oru_message(delivery: Hl7Delivery) -> Message:
    """The ORU^R01 a delivery sends, from the records as they are now (prediction or review by id)."""
    study = Study.objects.select_related("patient").get(id=delivery.study_id)
    review = None
    if delivery.event == Hl7Delivery.Event.PRELIMINARY:
        prediction = Prediction.objects.get(id=delivery.source_id)
    else:
        review = Review.objects.select_related("reviewer", "prediction").get(id=delivery.source_id)
        prediction = review.prediction
    message = Message("ORU_R01", version="2.5", validation_level=VALIDATION_LEVEL.STRICT)
    _msh(message, delivery)
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    _pid(result, study.patient)
    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    _obr(order, study, delivery, review.signed_at if review else prediction.created_at)
    _ai_obx(order, prediction, delivery.result_status)
    if review is not None:
        _read_obx(order, review, delivery.result_status)
    return message
