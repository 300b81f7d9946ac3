"""The Structured Reports: the AI result, and each radiologist's signed read that follows it.

The AI SR is a Comprehensive SR whose content tree is the TID 1500 measurement report (built by highdicom)
plus one TEXT "Comment" saying it is decision support, not a diagnosis (TID 1500 has no place for free
text, so the template identifier is left off: "an equivalent tree"). docs/DICOM.md draws both trees.
"""

from __future__ import annotations

import highdicom as hd
from highdicom.sr.templates import DEFAULT_LANGUAGE
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from pacs.dicom_objects import codes as c
from pacs.dicom_objects.common import evidence_dataset, study_attributes_apply, timestamps_apply
from pacs.dicom_objects.records import (
    NOT_A_DIAGNOSIS,
    AiResult,
    AnalysedImage,
    FinalRead,
    Producer,
    StudyIdentity,
)
from pacs.dicom_objects.uids import ai_sr_uid, review_sr_uid, series_uid

AI_SERIES_DESCRIPTION = "Airspace AI output"
REVIEW_SERIES_DESCRIPTION = "Airspace AI output — radiologist read"
AI_SR_SERIES_NUMBER = 9901
REVIEW_SR_SERIES_NUMBER = 9903
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"


def _device_context(producer: Producer) -> hd.sr.ObservationContext:
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=producer.device_uid, name=producer.device_name, manufacturer_name=producer.manufacturer
    )
    return hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.cid270.Device, observer_identifying_attributes=device
        )
    )


def _measurement_group(result: AiResult, image: AnalysedImage, tracking_uid: str) -> Dataset:
    algorithm = hd.sr.AlgorithmIdentification(name=result.algorithm_name, version=result.algorithm_version)
    present = c.PRESENT if result.label == "PNEUMONIA" else c.ABSENT

    def number(name: object, value: float) -> hd.sr.Measurement:
        return hd.sr.Measurement(name=name, value=round(value, 6), unit=c.UNITLESS, algorithm_id=algorithm)

    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier="Airspace pneumonia"),
        finding_type=c.PNEUMONIA,
        algorithm_id=algorithm,
        measurements=[number(c.PROBABILITY, result.probability), number(c.THRESHOLD, result.threshold)],
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(name=c.PNEUMONIA, value=present),
            hd.sr.QualitativeEvaluation(name=c.INDETERMINATE, value=c.YES if result.indeterminate else c.NO),
        ],
        source_images=[
            hd.sr.SourceImageForMeasurementGroup(
                referenced_sop_class_uid=image.sop_class_uid,
                referenced_sop_instance_uid=image.sop_instance_uid,
            )
        ],
    )


def _comment(text: str, name: object = c.COMMENT) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(
        name=name, value=text, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )


def ai_sr(*, study: StudyIdentity, image: AnalysedImage, result: AiResult, producer: Producer) -> Dataset:
    """The AI result as an SR in the original study, in the "Airspace AI output" series."""
    uid = ai_sr_uid(study.study_instance_uid, result.record_id)
    report = hd.sr.MeasurementReport(
        observation_context=_device_context(producer),
        procedure_reported=c.CHEST_XRAY,
        imaging_measurements=[_measurement_group(result, image, tracking_uid=uid + ".1")],
    )
    root = report[0]
    del root.ContentTemplateSequence  # not strictly TID 1500 once the comment is in (module docstring)
    root.ContentSequence.append(_comment(NOT_A_DIAGNOSIS))
    sr = hd.sr.ComprehensiveSR(
        evidence=[evidence_dataset(study, image)],
        content=root,
        series_instance_uid=series_uid(study.study_instance_uid, "ai-sr"),
        series_number=AI_SR_SERIES_NUMBER,
        sop_instance_uid=uid,
        instance_number=result.run_number,
        manufacturer=producer.manufacturer,
        institution_name=producer.institution_name or None,
        is_complete=True,
    )
    _finish(sr, study, producer, result.created_at, AI_SERIES_DESCRIPTION)
    return sr


def _finish(sr: Dataset, study: StudyIdentity, producer: Producer, when: object, description: str) -> None:
    study_attributes_apply(sr, study)
    timestamps_apply(sr, when, series_description=description)  # type: ignore[arg-type]
    if producer.software_version:
        sr.SoftwareVersions = producer.software_version


def _sr_reference(study_uid: str, series: str, sop_uid: str) -> Dataset:
    """A stand-in for an earlier SR of ours (its UIDs are derived, so no copy of it is needed)."""
    ds = Dataset()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid(study_uid, series)
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = sop_uid
    return ds


def _read_items(read: FinalRead) -> list[Dataset]:
    """Final label, agreement with the AI, reason, note and amendment reason as content items."""
    contains = hd.sr.RelationshipTypeValues.CONTAINS
    value = {"PNEUMONIA": c.PRESENT, "NORMAL": c.ABSENT}.get(read.final_label, c.UNUSABLE)
    agreement = c.AGREE if read.decision == "agree" else c.OVERRIDE
    items: list[Dataset] = [
        hd.sr.CodeContentItem(name=c.PNEUMONIA, value=value, relationship_type=contains),
        hd.sr.CodeContentItem(name=c.AI_AGREEMENT, value=agreement, relationship_type=contains),
    ]
    texts = (
        (c.OVERRIDE_REASON, read.reason),
        (c.COMMENT, read.note),
        (c.AMENDMENT_REASON, read.amendment_reason),
    )
    items += [_comment(text, name) for name, text in texts if text]
    return items


def review_sr(
    *, study: StudyIdentity, image: AnalysedImage, result: AiResult, read: FinalRead, producer: Producer
) -> Dataset:
    """The signed read as a new, verified SR whose predecessors are the AI SR (and the read it amends)."""
    study_uid = study.study_instance_uid
    person = hd.sr.PersonObserverIdentifyingAttributes(name=read.reader_name)
    context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.cid270.Person, observer_identifying_attributes=person
        )
    )
    root = hd.sr.ContainerContentItem(name=c.DIAGNOSTIC_IMAGING_REPORT, is_content_continuous=False)
    root.ContentSequence = [
        *hd.sr.LanguageOfContentItemAndDescendants(DEFAULT_LANGUAGE),
        *context,
        hd.sr.CodeContentItem(
            name=codes.DCM.ProcedureReported,
            value=c.CHEST_XRAY,
            relationship_type=hd.sr.RelationshipTypeValues.HAS_CONCEPT_MOD,
        ),
        hd.sr.ImageContentItem(
            name=codes.DCM.SourceImageForImageProcessingOperation,
            referenced_sop_class_uid=image.sop_class_uid,
            referenced_sop_instance_uid=image.sop_instance_uid,
            relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
        ),
        *_read_items(read),
    ]
    predecessors = [_sr_reference(study_uid, "ai-sr", ai_sr_uid(study_uid, result.record_id))]
    if read.previous_record_id:
        predecessors.append(
            _sr_reference(study_uid, "review-sr", review_sr_uid(study_uid, read.previous_record_id))
        )
    sr = hd.sr.ComprehensiveSR(
        evidence=[evidence_dataset(study, image)],
        content=root,
        series_instance_uid=series_uid(study_uid, "review-sr"),
        series_number=REVIEW_SR_SERIES_NUMBER,
        sop_instance_uid=review_sr_uid(study_uid, read.record_id),
        instance_number=read.version,
        manufacturer=producer.manufacturer,
        institution_name=producer.institution_name or None,
        is_complete=True,
        is_final=True,
        is_verified=True,
        verifying_observer_name=read.reader_name,
        verifying_organization=producer.institution_name or producer.manufacturer,
        previous_versions=predecessors,
    )
    _finish(sr, study, producer, read.signed_at, REVIEW_SERIES_DESCRIPTION)
    sr.VerifyingObserverSequence[0].VerificationDateTime = read.signed_at.strftime("%Y%m%d%H%M%S.%f")
    return sr
