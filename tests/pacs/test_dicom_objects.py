"""The result objects, built from plain records and read back with pydicom and highdicom (no Django)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime

import highdicom as hd
import numpy as np
import pydicom
import pytest
from PIL import Image

from pacs.dicom_objects import (
    NOT_A_DIAGNOSIS,
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
from pacs.dicom_objects.uids import ai_sr_uid, review_sr_uid
from tests.pacs.sr_content import ai_probability, values

STUDY = StudyIdentity(
    study_instance_uid="1.2.826.0.1.3680043.8.498.1",
    patient_id="MRN-7",
    patient_name="Ünal^Zoë",
    patient_birth_date=date(2020, 5, 1),
    patient_sex="F",
    accession_number="ACC-7",
    study_date=date(2026, 11, 27),
    study_time="101500",
    issuer_of_patient_id="HOSP",
)
IMAGE = AnalysedImage(
    sop_class_uid="1.2.840.10008.5.1.4.1.1.1.1",
    sop_instance_uid="1.2.826.0.1.3680043.8.498.1.2.3",
    series_instance_uid="1.2.826.0.1.3680043.8.498.1.2",
)
RESULT = AiResult(
    record_id="7f1c2c1e-0000-4000-8000-000000000001",
    probability=0.8731,
    threshold=0.42,
    label="PNEUMONIA",
    indeterminate=False,
    algorithm_name="airspace-cnn",
    algorithm_version="1.0.0",
    created_at=datetime(2026, 11, 27, 10, 16, 3, tzinfo=UTC),
)
READ = FinalRead(
    record_id="7f1c2c1e-0000-4000-8000-0000000000a1",
    version=1,
    decision="override",
    final_label="NORMAL",
    reason="Model false alarm",
    note="",
    amendment_reason="",
    reader_name="Reader^Rita",
    signed_at=datetime(2026, 11, 27, 10, 30, tzinfo=UTC),
)
PRODUCER = Producer(institution_name="Airspace Test Hospital")


def _roundtrip(ds: pydicom.Dataset) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(dataset_bytes(ds)))


def test_ai_sr_reports_the_finding_probability_threshold_and_algorithm_in_the_original_study() -> None:
    sr = _roundtrip(ai_sr(study=STUDY, image=IMAGE, result=RESULT, producer=PRODUCER))
    found = values(sr)
    assert sr.StudyInstanceUID == STUDY.study_instance_uid
    assert sr.SeriesDescription == "Airspace AI output"
    assert (sr.PatientID, str(sr.PatientName), sr.AccessionNumber) == ("MRN-7", "Ünal^Zoë", "ACC-7")
    assert sr.IssuerOfPatientID == "HOSP"
    assert ai_probability(sr) == pytest.approx(0.8731)
    assert found[("99AIRSPACE", "operating-point")] == [pytest.approx(0.42)]
    assert found[("SCT", "233604007")] == [("SCT", "52101004")]  # pneumonia: present
    assert found[("99AIRSPACE", "indeterminate")] == [("SCT", "373067005")]  # no
    assert found[("DCM", "121071")] == [("SCT", "233604007")]  # finding: pneumonia
    assert found[("DCM", "111001")][0] == "airspace-cnn" and found[("DCM", "111003")][0] == "1.0.0"
    assert found[("DCM", "121106")] == [NOT_A_DIAGNOSIS]
    assert (IMAGE.sop_class_uid, IMAGE.sop_instance_uid) in found[("DCM", "121112")]
    assert (sr.PreliminaryFlag, sr.VerificationFlag) == ("PRELIMINARY", "UNVERIFIED")


def test_ai_sr_is_readable_by_highdicom_and_lists_the_analysed_image_as_evidence() -> None:
    sr = hd.sr.ComprehensiveSR.from_dataset(
        _roundtrip(ai_sr(study=STUDY, image=IMAGE, result=RESULT, producer=PRODUCER))
    )
    evidence = sr.get_evidence()
    assert [(e[0], e[1], e[2], e[3]) for e in evidence] == [
        (STUDY.study_instance_uid, IMAGE.series_instance_uid, IMAGE.sop_instance_uid, IMAGE.sop_class_uid)
    ]


def test_absent_and_indeterminate_are_coded() -> None:
    normal = replace(RESULT, probability=0.31, label="NORMAL", indeterminate=True)
    found = values(ai_sr(study=STUDY, image=IMAGE, result=normal, producer=PRODUCER))
    assert found[("SCT", "233604007")] == [("SCT", "2667000")]  # absent
    assert found[("99AIRSPACE", "indeterminate")] == [("SCT", "373066001")]  # yes


def test_a_rebuilt_object_is_the_same_instance_byte_for_byte() -> None:
    first = dataset_bytes(ai_sr(study=STUDY, image=IMAGE, result=RESULT, producer=PRODUCER))
    again = dataset_bytes(ai_sr(study=STUDY, image=IMAGE, result=RESULT, producer=PRODUCER))
    other = ai_sr(study=STUDY, image=IMAGE, result=replace(RESULT, record_id="another"), producer=PRODUCER)
    assert first == again
    assert other.SOPInstanceUID != pydicom.dcmread(io.BytesIO(first)).SOPInstanceUID
    assert len(other.SOPInstanceUID) <= 64 and other.SOPInstanceUID.startswith("2.25.")


def test_review_sr_is_verified_by_the_radiologist_with_the_ai_sr_as_predecessor() -> None:
    sr = _roundtrip(review_sr(study=STUDY, image=IMAGE, result=RESULT, read=READ, producer=PRODUCER))
    found = values(sr)
    assert sr.StudyInstanceUID == STUDY.study_instance_uid
    assert sr.SOPInstanceUID == review_sr_uid(STUDY.study_instance_uid, READ.record_id)
    assert (sr.VerificationFlag, sr.CompletionFlag) == ("VERIFIED", "COMPLETE")
    assert str(sr.VerifyingObserverSequence[0].VerifyingObserverName) == "Reader^Rita"
    assert found[("DCM", "121008")] == ["Reader^Rita"]  # person observer name
    predecessors = [
        ref.ReferencedSOPInstanceUID
        for series in sr.PredecessorDocumentsSequence[0].ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    ]
    assert predecessors == [ai_sr_uid(STUDY.study_instance_uid, RESULT.record_id)]
    assert found[("SCT", "233604007")] == [("SCT", "2667000")]  # final read: absent
    assert found[("99AIRSPACE", "ai-agreement")] == [("99AIRSPACE", "override")]
    assert found[("99AIRSPACE", "override-reason")] == ["Model false alarm"]


def test_an_amendment_is_another_sr_after_the_first_read_and_the_ai_sr() -> None:
    amended = replace(
        READ,
        record_id="second",
        version=2,
        decision="agree",
        final_label="PNEUMONIA",
        reason="",
        amendment_reason="Second look: consolidation right lower lobe",
        previous_record_id=READ.record_id,
    )
    first = review_sr(study=STUDY, image=IMAGE, result=RESULT, read=READ, producer=PRODUCER)
    sr = review_sr(study=STUDY, image=IMAGE, result=RESULT, read=amended, producer=PRODUCER)
    predecessors = {
        ref.ReferencedSOPInstanceUID
        for series in sr.PredecessorDocumentsSequence[0].ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    }
    assert sr.SOPInstanceUID != first.SOPInstanceUID
    assert predecessors == {first.SOPInstanceUID, ai_sr_uid(STUDY.study_instance_uid, RESULT.record_id)}
    assert values(sr)[("99AIRSPACE", "amendment-reason")] == [amended.amendment_reason]
    assert sr.InstanceNumber == 2


def test_non_diagnostic_read_is_coded_as_unusable() -> None:
    read = replace(READ, final_label="NON_DIAGNOSTIC", reason="Poor image quality")
    found = values(review_sr(study=STUDY, image=IMAGE, result=RESULT, read=read, producer=PRODUCER))
    assert found[("SCT", "233604007")] == [("DCM", "111235")]


def test_capture_burns_the_heatmap_legend_and_disclaimer_into_the_original_study() -> None:
    xray = Image.fromarray(np.full((600, 500), 40, dtype=np.uint8), mode="L")
    overlay = Image.new("RGBA", (256, 307), (253, 231, 37, 191))  # viridis' top colour at full strength
    sc = _roundtrip(
        heatmap_capture(
            study=STUDY, image=IMAGE, result=RESULT, producer=PRODUCER, pixels=xray, overlay=overlay
        )
    )
    pixels = sc.pixel_array
    assert sc.StudyInstanceUID == STUDY.study_instance_uid and sc.Modality == "OT"
    assert sc.SeriesDescription == "Airspace AI output — heatmap" and sc.BurnedInAnnotation == "YES"
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == IMAGE.sop_instance_uid
    assert NOT_A_DIAGNOSIS in sc.ImageComments
    assert (sc.Columns, sc.PhotometricInterpretation) == (500, "RGB") and sc.Rows > 600
    assert pixels[300, 250, 0] > 150 > pixels[300, 250, 2]  # the overlay is burned in (yellow over grey)
    legend = pixels[600:]
    assert legend.max() == 255 and legend.reshape(-1, 3).std(axis=0).sum() > 10  # text and colour bar
