"""Studies that came over DICOM, with a prediction recorded by the real service, for the outbound tests."""

from __future__ import annotations

import hashlib
import io
from types import SimpleNamespace
from typing import Any

import numpy as np
import pydicom
from django.core.files.base import ContentFile
from django.utils import timezone

from diagnosis.models import Patient, Prediction, Study
from diagnosis.services.predictions import prediction_record
from mlcore.calibration import label_confidence
from mlcore.heatmap import heatmap_png
from pacs.models import DicomNode, InboundStudy, ReceivedInstance
from pacs.services.nodes import NodeSpec, dicom_node_add
from tests.diagnosis.factories import ImageFactory, PatientFactory, StudyFactory
from tests.fixtures.dicoms import xray_dicom


def dicom_study(*, created_by: Any, data: bytes | None = None) -> tuple[Study, pydicom.Dataset]:
    """A study received over DICOM, claimed by a worker, with the original identifiers kept as ingest keeps them."""
    data = data or xray_dicom()
    ds = pydicom.dcmread(io.BytesIO(data))
    patient = Patient.objects.filter(mrn=ds.PatientID, created_by=created_by).first() or PatientFactory(
        mrn=ds.PatientID, name=str(ds.PatientName), created_by=created_by
    )
    study = StudyFactory(
        created_by=created_by,
        patient=patient,
        status=Study.Status.PROCESSING,
        processing_started_at=timezone.now(),
        source=Study.Source.DICOM,
        study_instance_uid=ds.StudyInstanceUID,
        accession_number=ds.AccessionNumber,
    )
    image = ImageFactory(
        study=study,
        format="DICOM",
        original_filename="xray.dcm",
        file=ContentFile(data, name="xray.dcm"),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=int(ds.Columns),
        height=int(ds.Rows),
    )
    inbound = InboundStudy.objects.create(
        sender=created_by,
        study_instance_uid=ds.StudyInstanceUID,
        study=study,
        state=InboundStudy.State.RELEASED,
        last_received_at=timezone.now(),
        patient_id=ds.PatientID,
        patient_name=str(ds.PatientName),
        patient_sex=ds.PatientSex,
        accession_number=ds.AccessionNumber,
        study_time=ds.StudyTime,
        referring_physician_name=str(ds.ReferringPhysicianName),
    )
    ReceivedInstance.objects.create(
        sender=created_by,
        inbound_study=inbound,
        sop_class_uid=ds.SOPClassUID,
        sop_instance_uid=ds.SOPInstanceUID,
        series_instance_uid=ds.SeriesInstanceUID,
        study_instance_uid=ds.StudyInstanceUID,
        status=ReceivedInstance.Status.ACCEPTED,
        image=image,
    )
    return study, ds


def prediction_recorded(study: Study, *, probability: float = 0.83, threshold: float = 0.5) -> Prediction:
    """Record a prediction through the worker's own service (which fires the results-out hook)."""
    label = "PNEUMONIA" if probability >= threshold else "NORMAL"
    cam = np.zeros((7, 7), dtype=np.float32)
    cam[2:5, 1:3] = 1.0
    result = SimpleNamespace(
        model_version="airspace-cnn-1.0.0",
        probability=probability,
        label=label,
        confidence=label_confidence(probability, label),
        threshold=threshold,
        indeterminate=False,
        gate_score=None,
        flags=(),
        timings={},
        heatmap_png=heatmap_png(cam, (256, 256)),
    )
    image = study.images.get()
    prediction = prediction_record(study=study, image=image, result=result)
    assert prediction is not None
    return prediction


def outbound_node(
    *, name: str = "hospital-pacs", host: str, port: int, ae_title: str, url: str = ""
) -> DicomNode:
    """An outbound node registered by the admin service."""
    spec = NodeSpec(name=name, ae_title=ae_title, host=host, port=port, outbound=True, dicomweb_url=url)
    return dicom_node_add(spec=spec)
