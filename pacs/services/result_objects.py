"""The DICOM bytes of one delivery: read the study, prediction or read, and build the object in dicom_objects."""

from __future__ import annotations

import io
import re
from typing import Any

from django.conf import settings
from PIL import Image as PILImage

from diagnosis.models import Image, Prediction, Study
from mlcore.decoding import decode_image
from pacs.dicom_objects import (
    AiResult,
    AnalysedImage,
    FinalRead,
    Producer,
    StudyIdentity,
    ai_sr,
    dataset_bytes,
    heatmap_capture,
    review_sr,
)
from pacs.models import InboundStudy, ReceivedInstance
from reading.models import Review

_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[\w.]*)$")


class ResultUnavailable(Exception):
    """The object cannot be built (nothing in the PACS to file it under): a terminal, explained failure."""


def study_identity(study: Study) -> StudyIdentity:
    """The original study as the PACS knows it: the identifiers ingest kept (InboundStudy), else the rows'."""
    if not study.study_instance_uid:
        raise ResultUnavailable("The study has no DICOM StudyInstanceUID to file results under.")
    inbound = InboundStudy.objects.filter(study_id=study.id).order_by("id").first()
    if inbound is not None:
        return StudyIdentity(
            study_instance_uid=study.study_instance_uid,
            patient_id=inbound.patient_id or study.patient.mrn,
            patient_name=inbound.patient_name,
            patient_birth_date=inbound.patient_birth_date,
            patient_sex=inbound.patient_sex if inbound.patient_sex in ("M", "F", "O") else "",
            issuer_of_patient_id=inbound.issuer_of_patient_id,
            accession_number=inbound.accession_number,
            study_id=inbound.dicom_study_id,
            study_date=inbound.study_date,
            study_time=inbound.study_time,
            referring_physician_name=inbound.referring_physician_name,
            study_description=inbound.study_description,
        )
    patient = study.patient
    return StudyIdentity(
        study_instance_uid=study.study_instance_uid,
        patient_id=patient.mrn,
        patient_name=patient.name,
        patient_birth_date=patient.birth_date,
        patient_sex=patient.sex if patient.sex in ("M", "F", "O") else "",
        accession_number=study.accession_number,
        study_date=study.study_date,
    )


def analysed_image(image: Image) -> AnalysedImage:
    """The analysed instance's original UIDs, as ingest over DICOM recorded them (ReceivedInstance)."""
    received = ReceivedInstance.objects.filter(image_id=image.id).exclude(sop_instance_uid="").first()
    if received is None:
        raise ResultUnavailable("The analysed image has no original DICOM UIDs to reference.")
    return AnalysedImage(
        sop_class_uid=received.sop_class_uid,
        sop_instance_uid=received.sop_instance_uid,
        series_instance_uid=received.series_instance_uid,
    )


def ai_result(prediction: Prediction) -> AiResult:
    """The prediction as the AI objects report it; "airspace-cnn-1.0.0" is algorithm airspace-cnn, 1.0.0."""
    match = _VERSION.match(prediction.model_version)
    name, version = (match["name"], match["version"]) if match else ("Airspace", prediction.model_version)
    return AiResult(
        record_id=str(prediction.id),
        probability=prediction.probability,
        threshold=prediction.threshold,
        label=prediction.label,
        indeterminate=prediction.indeterminate,
        algorithm_name=name,
        algorithm_version=version,
        created_at=prediction.created_at,
        run_number=prediction.run_number,
    )


def final_read(review: Review) -> FinalRead:
    """A signed read; the reader is the verifying observer, as Family^Given when the account has names."""
    reader = review.reviewer
    name = f"{reader.last_name}^{reader.first_name}" if reader.last_name else f"{reader.get_username()}^"
    return FinalRead(
        record_id=str(review.id),
        version=review.version,
        decision=review.decision,
        final_label=review.final_label,
        reason=review.get_reason_display() if review.reason else "",
        note=review.note,
        amendment_reason=review.amendment_reason,
        reader_name=name,
        signed_at=review.signed_at,
        previous_record_id=str(review.previous_id) if review.previous_id else None,
    )


def _producer() -> Producer:
    return Producer(institution_name=settings.AIRSPACE_DICOM_INSTITUTION)


def _capture(study: StudyIdentity, prediction: Prediction, result: AiResult) -> Any:
    if not prediction.heatmap:
        raise ResultUnavailable("The prediction has no heatmap to burn in.")
    with prediction.image.file.open("rb") as handle:
        pixels = decode_image(handle.read()).image
    with prediction.heatmap.open("rb") as handle:
        overlay = PILImage.open(io.BytesIO(handle.read()))
        overlay.load()
    return heatmap_capture(
        study=study,
        image=analysed_image(prediction.image),
        result=result,
        producer=_producer(),
        pixels=pixels,
        overlay=overlay,
    )


def result_object(*, kind: str, source_id: Any, study: Study) -> bytes:
    """The Part 10 bytes of the AI SR ("sr"), heatmap capture ("sc") or read SR ("review_sr")."""
    identity = study_identity(study)
    if kind == "review_sr":
        review = Review.objects.select_related("reviewer", "prediction__image").get(id=source_id)
        prediction = review.prediction
    else:
        prediction = Prediction.objects.select_related("image").get(id=source_id)
    result = ai_result(prediction)
    if kind == "sc":
        return dataset_bytes(_capture(identity, prediction, result))
    image = analysed_image(prediction.image)
    if kind == "sr":
        return dataset_bytes(ai_sr(study=identity, image=image, result=result, producer=_producer()))
    read = final_read(review)
    return dataset_bytes(
        review_sr(study=identity, image=image, result=result, read=read, producer=_producer())
    )
