"""DICOM result objects (SR, secondary capture) built from plain records: no Django, no database, no network."""

from pacs.dicom_objects.capture import heatmap_capture
from pacs.dicom_objects.common import dataset_bytes
from pacs.dicom_objects.records import (
    NOT_A_DIAGNOSIS,
    AiResult,
    AnalysedImage,
    FinalRead,
    Producer,
    StudyIdentity,
)
from pacs.dicom_objects.sr import ai_sr, review_sr

__all__ = [
    "NOT_A_DIAGNOSIS",
    "AiResult",
    "AnalysedImage",
    "FinalRead",
    "Producer",
    "StudyIdentity",
    "ai_sr",
    "dataset_bytes",
    "heatmap_capture",
    "review_sr",
]
