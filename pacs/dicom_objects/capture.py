"""The Secondary Capture: the analysed image with the heatmap burned in, a legend and the disclaimer.

The pixels are the study page's own rendering (mlcore.heatmap: the stored overlay PNG composited over the
X-ray at display size), so a PACS viewer shows what the portal shows; the legend uses the same colour table.
"""

from __future__ import annotations

import functools
from pathlib import Path

import highdicom as hd
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from mlcore.heatmap import colour_table, heatmap_composite
from mlcore.image import display_size
from pacs.dicom_objects.common import study_attributes_apply, timestamps_apply
from pacs.dicom_objects.records import NOT_A_DIAGNOSIS, AiResult, AnalysedImage, Producer, StudyIdentity
from pacs.dicom_objects.uids import capture_uid, series_uid

CAPTURE_SERIES_DESCRIPTION = "Airspace AI output — heatmap"
CAPTURE_SERIES_NUMBER = 9902
_SC_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans, shipped with matplotlib (Pillow's default font has no dash or arrow)."""
    import matplotlib

    return ImageFont.truetype(
        str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size
    )


def _legend(width: int, result: AiResult) -> Image.Image:
    """A black band: the disclaimer, the result line, and the colour bar from low to high evidence."""
    size = max(12, width // 48)
    font = _font(size)
    pad = size // 2
    band = Image.new("RGB", (width, pad * 6 + size * 4), "black")
    draw = ImageDraw.Draw(band)
    draw.text((pad, pad), NOT_A_DIAGNOSIS, font=font, fill=(255, 255, 255))
    finding = "indeterminate" if result.indeterminate else result.label
    line = (
        f"{result.algorithm_name} {result.algorithm_version}: {finding}, calibrated p = "
        f"{result.probability:.2f} (operating point {result.threshold:.2f})"
    )
    draw.text((pad, pad * 2 + size), line, font=font, fill=(255, 255, 255))
    bar_top, bar_width = pad * 3 + size * 2, width - 2 * pad
    colours = colour_table()[np.linspace(0, 255, bar_width).astype(int), :3]
    bar = Image.fromarray(np.repeat(colours[np.newaxis], size, axis=0), mode="RGB")
    band.paste(bar, (pad, bar_top))
    evidence = "NORMAL" if result.label == "NORMAL" else "PNEUMONIA"
    caption = f"Heatmap: where the evidence for {evidence} is, low → high"
    draw.text((pad, bar_top + size + pad), caption, font=font, fill=(255, 255, 255))
    return band


def capture_pixels(image: Image.Image, overlay: Image.Image, result: AiResult) -> np.ndarray:
    """RGB uint8 pixels: the overlaid X-ray at display size above its legend band."""
    size = display_size(*image.size)
    shown = heatmap_composite(image.convert("L").resize(size, Image.Resampling.BILINEAR), overlay)
    band = _legend(size[0], result)
    canvas = Image.new("RGB", (size[0], size[1] + band.height), "black")
    canvas.paste(shown, (0, 0))
    canvas.paste(band, (0, size[1]))
    return np.asarray(canvas)


def heatmap_capture(
    *,
    study: StudyIdentity,
    image: AnalysedImage,
    result: AiResult,
    producer: Producer,
    pixels: Image.Image,
    overlay: Image.Image,
) -> Dataset:
    """The secondary capture in the original study, "Airspace AI output — heatmap" series."""
    study_uid = study.study_instance_uid
    sc = hd.sc.SCImage(
        pixel_array=capture_pixels(pixels, overlay, result),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=study_uid,
        series_instance_uid=series_uid(study_uid, "heatmap-sc"),
        series_number=CAPTURE_SERIES_NUMBER,
        sop_instance_uid=capture_uid(study_uid, result.record_id),
        instance_number=result.run_number,
        manufacturer=producer.manufacturer,
        patient_id=study.patient_id,
        patient_name=study.patient_name or None,
        patient_birth_date=study.patient_birth_date.strftime("%Y%m%d") if study.patient_birth_date else None,
        patient_sex=study.patient_sex or None,
        accession_number=study.accession_number or None,
        study_id=study.study_id or None,
        study_date=study.study_date,
        study_time=study.study_time or None,
        referring_physician_name=study.referring_physician_name or None,
        patient_orientation=("L", "F"),  # required by the constructor; emptied below (not known)
    )
    _describe(sc, study, image, result, producer)
    return sc


def _describe(
    sc: Dataset, study: StudyIdentity, image: AnalysedImage, result: AiResult, producer: Producer
) -> None:
    """Burned-in annotation, derivation from the analysed image, and the record's own timestamps."""
    study_attributes_apply(sc, study)
    timestamps_apply(sc, result.created_at, series_description=CAPTURE_SERIES_DESCRIPTION)
    sc.DateOfSecondaryCapture = result.created_at.strftime("%Y%m%d")
    sc.TimeOfSecondaryCapture = result.created_at.strftime("%H%M%S.%f")
    sc.PatientOrientation = ""  # Type 2: the original's orientation is not carried over to a derived view
    sc.BurnedInAnnotation = "YES"
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.DerivationDescription = (
        f"Heatmap of {result.algorithm_name} {result.algorithm_version}. {NOT_A_DIAGNOSIS}"
    )
    sc.ImageComments = NOT_A_DIAGNOSIS
    source = Dataset()
    source.ReferencedSOPClassUID = image.sop_class_uid
    source.ReferencedSOPInstanceUID = image.sop_instance_uid
    sc.SourceImageSequence = [source]
    if producer.software_version:
        sc.SoftwareVersions = producer.software_version
