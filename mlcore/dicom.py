"""DICOM (CR/DX) decoding to the model's grayscale (de-identification: mlcore.deidentify).

No TensorFlow here: the web process validates and de-identifies DICOM uploads synchronously.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from mlcore.errors import InvalidImage
from mlcore.image import DecodedImage, check_dimensions, colorfulness, reduction_factor

# ADULT_AGE_YEARS, FLAG_NOTICES and flag_notice moved to mlcore.intended_use; kept importable from here.
from mlcore.intended_use import ADULT_AGE_YEARS, FLAG_NOTICES, age_flags_from_years, flag_notice  # noqa: F401

LATERAL_VIEWS = frozenset({"LL", "RL", "LATERAL", "LAT", "LLAT", "RLAT"})
# SOP class UID prefixes of objects that are documents, reports or overlays rather than images.
_NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated PDF / CDA
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.9.",  # waveforms (ECG, audio)
    "1.2.840.10008.5.1.4.1.1.481.",  # radiotherapy plans and structures
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registration, segmentation
)
_AGE_UNITS = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}


def decode_dicom(data: bytes, *, max_pixels: int, min_side: int) -> DecodedImage:
    """Decode a single-frame DICOM image: modality LUT, VOI LUT/window, MONOCHROME1 inverted."""
    ds = read_dataset(data)
    refuse_non_image(ds)
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    check_dimensions(cols, rows, max_pixels=max_pixels, min_side=min_side)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise InvalidImage(
            "Multi-frame DICOM (a series or cine) is not accepted; send a single radiograph.",
            code="dicom_multiframe",
        )
    pixels = stored_pixels(ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    colour = 0.0
    if pixels.ndim == 3:  # RGB / YBR secondary captures: keep colourfulness for the gate
        rgb = Image.fromarray(_to_uint8(pixels.astype(np.float64)), mode="RGB")
        colour, gray = colorfulness(rgb), rgb.convert("L")
    else:
        gray = Image.fromarray(_to_uint8(_grayscale_values(pixels, ds, photometric)), mode="L")
    meta = dicom_meta(ds)
    return DecodedImage(
        image=gray,
        width=cols,
        height=rows,
        format="DICOM",
        mode=f"{photometric} {meta['bits_stored']}-bit",
        meta=meta,
        flags=intended_use_flags(meta),
        colorfulness=colour,
    )


def read_dataset(data: bytes, *, stop_before_pixels: bool = False) -> Dataset:
    """Parse DICOM bytes; files without the 128-byte preamble are read with force=True."""
    has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
    try:
        return pydicom.dcmread(
            io.BytesIO(data), force=not has_preamble, stop_before_pixels=stop_before_pixels
        )
    except Exception as exc:  # pydicom raises many types on a bad stream
        raise InvalidImage("The DICOM file is damaged and cannot be read.", code="corrupt_image") from exc


def header_patient(data: bytes) -> dict[str, str]:
    """The patient the header names: PatientID, PatientName (PN, "Family^Given") and PatientBirthDate (DA,
    YYYYMMDD), each "" when absent; read before de-identification, for a cross-check only, never stored."""
    ds = read_dataset(data, stop_before_pixels=True)
    return {
        "patient_id": str(ds.get("PatientID", "") or "").strip(),
        "name": str(ds.get("PatientName", "") or "").strip(),
        "birth_date": str(ds.get("PatientBirthDate", "") or "").strip(),
    }


def refuse_non_image(ds: Dataset) -> None:
    """Refuse reports, PDFs and other non-image objects, and images without pixel data."""
    if "SOPClassUID" not in ds and "PixelData" not in ds and "Rows" not in ds:
        raise InvalidImage("The DICOM file is damaged: no readable image attributes.", code="corrupt_image")
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class.startswith(_NON_IMAGE_SOP_PREFIXES):
        raise InvalidImage(
            "This DICOM object is not an image (for example a report or a document).",
            code="dicom_not_image",
        )
    if "PixelData" not in ds:
        raise InvalidImage("The DICOM file contains no pixel data.", code="dicom_no_pixels")


def stored_pixels(ds: Dataset) -> np.ndarray:
    """The stored pixel values, or a clear error: compression we cannot decode, or damaged data.

    Uncompressed, RLE and JPEG baseline decode with pydicom alone; JPEG Lossless, JPEG-LS and JPEG 2000
    (common for CR/DX) through GDCM (python-gdcm), which pydicom finds by itself.
    """
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    try:
        return ds.pixel_array
    except Exception as exc:
        if syntax is not None and not _decodable(syntax):
            name = getattr(syntax, "name", None) or str(syntax)
            raise InvalidImage(
                f"The DICOM image is compressed as '{name}', which this server cannot decode. "
                "Please export it uncompressed, or as JPEG, JPEG Lossless, JPEG-LS or JPEG 2000.",
                code="dicom_unsupported_syntax",
            ) from exc
        raise InvalidImage("The DICOM pixel data is damaged.", code="corrupt_image") from exc


def _decodable(syntax: str) -> bool:
    """Whether an installed pydicom decoder handles this transfer syntax."""
    from pydicom.pixels import get_decoder

    try:
        return bool(get_decoder(syntax).is_available)
    except (NotImplementedError, ValueError):
        return False


def _grayscale_values(pixels: np.ndarray, ds: Dataset, photometric: str) -> np.ndarray:
    """Stored values → display values: Bits Stored mask, modality LUT, VOI LUT/window, MONOCHROME1 flip."""
    pixels = mask_bits_stored(pixels, ds)
    if "ModalityLUTSequence" not in ds and "VOILUTSequence" not in ds:
        # Linear rescale and windowing commute well enough with averaging; LUT tables need integers.
        pixels = block_mean(pixels, reduction_factor(pixels.shape[1], pixels.shape[0]))
    try:
        values = apply_modality_lut(pixels, ds)
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            values = apply_voi_lut(values, ds)
    except Exception as exc:  # malformed LUT or window (e.g. Window Width 0) raise deep inside pydicom
        raise InvalidImage(
            "The DICOM's display settings (rescale, LUT or window) are invalid; please re-export it.",
            code="corrupt_image",
        ) from exc
    values = np.asarray(values, dtype=np.float64)
    return values.max() + values.min() - values if photometric == "MONOCHROME1" else values


def mask_bits_stored(pixels: np.ndarray, ds: Dataset) -> np.ndarray:
    """Clear the bits above Bits Stored of unsigned values (overlays and junk may live there)."""
    bits_stored = int(ds.get("BitsStored", 0) or 0)
    if pixels.dtype.kind == "u" and 0 < bits_stored < pixels.dtype.itemsize * 8:
        return pixels & np.asarray((1 << bits_stored) - 1, dtype=pixels.dtype)
    return pixels


def block_mean(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Average factor x factor blocks (edge rows/columns that do not fill a block are dropped)."""
    if factor == 1:
        return pixels
    if pixels.dtype in (np.uint8, np.uint16):  # Pillow's reduce() is ~3x faster than numpy here
        return np.asarray(Image.fromarray(pixels).convert("I").reduce(factor), dtype=np.float32)
    h, w = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    blocks = pixels[:h, :w].reshape(h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Stretch the used range of values to 0..255."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def dicom_meta(ds: Dataset) -> dict[str, Any]:
    """PatientAge (years), ViewPosition, Modality, photometric and Bits Stored, when present."""
    return {
        "patient_age_years": parse_age(str(ds.get("PatientAge", "") or "")),
        "view_position": str(ds.get("ViewPosition", "") or "").upper() or None,
        "modality": str(ds.get("Modality", "") or "").upper() or None,
        "photometric": str(ds.get("PhotometricInterpretation", "") or "") or None,
        "bits_stored": int(ds.get("BitsStored", 8) or 8),
    }


def parse_age(age: str) -> float | None:
    """DICOM AS ("005Y", "018M", "010W", "003D") → years, or None."""
    age = age.strip().upper()
    if len(age) < 2 or age[-1] not in _AGE_UNITS or not age[:-1].isdigit():
        return None
    return round(int(age[:-1]) * _AGE_UNITS[age[-1]], 3)


def intended_use_flags(meta: dict[str, Any]) -> tuple[str, ...]:
    """Non-blocking notices from the header: adult or infant patient (PatientAge), lateral view.

    The portal replaces the age flags with ones from the entered birth date when it has one.
    """
    flags = list(age_flags_from_years(meta.get("patient_age_years")))
    if meta.get("view_position") in LATERAL_VIEWS:
        flags.append("lateral_view")
    return tuple(flags)
