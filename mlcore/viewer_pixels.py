"""Full-resolution pixel values for the diagnostic viewer, which windows them itself (#19).

The model path (mlcore.dicom.decode_dicom) reduces and windows once to 8 bits; a reader needs the stored values
(12 or 16 bits) and the file's own display settings, so the browser can apply any window to the raw data.
DICOM goes through the same reader and pixel decoder as the model path (read_dataset, stored_pixels,
mask_bits_stored): one decoding path. JPEG and PNG are decoded at full size (8 bits, or 16 for a 16-bit PNG).

Wire format (`ViewerPixels.encode`): zlib( u32 little-endian header length | header JSON | pad to even |
pixels as little-endian uint16 or int16, row-major ). The header says which.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image, ImageOps
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from mlcore.decoding import MAX_PIXELS, MIN_SIDE, sniff_format
from mlcore.dicom import mask_bits_stored, read_dataset, refuse_non_image, stored_pixels
from mlcore.errors import InvalidImage
from mlcore.image import check_dimensions

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
COMPRESS_SAMPLE = 256 * 1024  # bytes of pixels tried before compressing a whole film
COMPRESS_WORTH = 0.5  # compress only what at least halves: CPU, not a LAN, is the scarce part


@dataclass(frozen=True)
class Window:
    """A window on modality values (after rescale): centre, width, and where it came from."""

    center: float
    width: float
    source: str  # "WindowCenter/Width", "VOI LUT", "full range"


@dataclass(frozen=True)
class ViewerPixels:
    """Stored values at full resolution and what the browser needs to display them as the file says."""

    values: np.ndarray  # 2-D uint16 or int16
    windows: tuple[Window, ...]  # the first is the initial window
    slope: float = 1.0
    intercept: float = 0.0
    voi_function: str = "LINEAR"
    photometric: str = "MONOCHROME2"  # MONOCHROME1: low values are white
    bits_stored: int = 8
    pixel_spacing: tuple[float, float] | None = None  # mm per pixel: (between rows, between columns)
    spacing_source: str | None = None  # "PixelSpacing" or "ImagerPixelSpacing" (at the detector)
    voi_lut: dict[str, Any] | None = None  # the file's VOI LUT table: first input value, output bits, data
    extra: dict[str, Any] = field(default_factory=dict)

    def header(self) -> dict[str, Any]:
        """The JSON header of the wire format."""
        height, width = self.values.shape
        return {
            "width": width,
            "height": height,
            "dtype": "int16" if self.values.dtype.kind == "i" else "uint16",
            "bits_stored": self.bits_stored,
            "slope": self.slope,
            "intercept": self.intercept,
            "min": int(self.values.min()),
            "max": int(self.values.max()),
            "windows": [{"center": w.center, "width": w.width, "source": w.source} for w in self.windows],
            "voi_function": self.voi_function,
            "photometric": self.photometric,
            "pixel_spacing": list(self.pixel_spacing) if self.pixel_spacing else None,
            "spacing_source": self.spacing_source,
            "voi_lut": self.voi_lut,
            **self.extra,
        }

    def part(self, *, box: tuple[int, int, int, int] | None = None, step: int = 1) -> ViewerPixels:
        """Every `step`-th stored value of `box` (x, y, width, height; None: the whole film), unchanged.

        How a very large film reaches the browser in bounded memory: an overview every n-th pixel, then the
        region in view at full resolution. Values are sampled, never averaged, so a window on them is still
        the window on the stored values. The header says where the part sits in the film (`x`, `y`, `step`,
        `full_width`, `full_height`); windows and the VOI LUT are the whole film's.
        """
        height, width = self.values.shape
        x, y, w, h = box or (0, 0, width, height)
        if step < 1 or w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise InvalidImage(
                f"The region {x},{y} {w}x{h} (every {step}) is not inside the {width}x{height} image.",
                code="bad_region",
            )
        where = {"x": x, "y": y, "step": step, "full_width": width, "full_height": height}
        values = self.values[y : y + h : step, x : x + w : step]
        return replace(self, values=values, extra={**self.extra, **where})

    def encode(self, level: int | None = None) -> bytes:
        """The wire format; `level` None picks zlib level 1 when a sample compresses well, else 0 (stored)."""
        header = json.dumps(self.header(), separators=(",", ":")).encode()
        header += b" " * (len(header) % 2)  # the pixels start on an even offset (Uint16Array alignment)
        dtype = "<i2" if self.values.dtype.kind == "i" else "<u2"
        pixels = np.ascontiguousarray(self.values, dtype=dtype).tobytes()
        body = struct.pack("<I", len(header)) + header + pixels
        return zlib.compress(body, _level_for(pixels) if level is None else level)


def _level_for(pixels: bytes) -> int:
    """1 when a middle sample shrinks below COMPRESS_WORTH, else 0 (stored blocks). On a 3,000 px film level 1
    saves 6 % (16-bit) or 28 % (12-bit) for ~1.1 s of CPU, where stored blocks cost ~70 ms (bench/viewer.py):
    14 MB cross a hospital LAN faster than that. 8-bit rasters in 16-bit words do halve, and are compressed."""
    middle = len(pixels) // 2
    sample = pixels[max(0, middle - COMPRESS_SAMPLE // 2) : middle + COMPRESS_SAMPLE // 2]
    return 1 if len(zlib.compress(sample, 1)) < COMPRESS_WORTH * len(sample) else 0


def decode_viewer_pixels(data: bytes) -> ViewerPixels:
    """Stored bytes (DICOM, PNG or JPEG, as accepted on upload) → ViewerPixels, or InvalidImage."""
    kind = sniff_format(data)
    if kind == "DICOM":
        return _dicom_pixels(read_dataset(data))
    if kind in ("PNG", "JPEG"):
        return _raster_pixels(data)
    raise InvalidImage("This file is not an image the viewer can show.", code="unsupported_format")


def _dicom_pixels(ds: Dataset) -> ViewerPixels:
    """1. refuse non-images and multi-frames; 2. stored values, Bits Stored masked; 3. modality LUT tables
    applied here (rescale slope/intercept travel to the browser); 4. the file's windows and spacing."""
    refuse_non_image(ds)
    check_dimensions(
        int(ds.get("Columns", 0)), int(ds.get("Rows", 0)), max_pixels=MAX_PIXELS, min_side=MIN_SIDE
    )
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise InvalidImage("Multi-frame DICOM is not shown by the viewer.", code="dicom_multiframe")
    values = mask_bits_stored(stored_pixels(ds), ds)
    if values.ndim == 3:  # colour secondary capture: luminance, 8 bits
        values = np.asarray(
            Image.fromarray(values.astype(np.uint8), mode="RGB").convert("L"), dtype=np.uint16
        )
        return _raster_result(values, 8)
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    if "ModalityLUTSequence" in ds:  # a table, not a line: apply it here, its output is integer
        values = np.asarray(apply_modality_lut(values, ds), dtype=np.uint16)
        slope, intercept = 1.0, 0.0
    elif values.dtype.kind not in "iu" or values.dtype.itemsize > 2:
        values = values.astype(np.int16 if values.min() < 0 else np.uint16)
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    spacing, source = _spacing(ds)
    low, high = float(values.min()) * slope + intercept, float(values.max()) * slope + intercept
    return ViewerPixels(
        values=values,
        windows=_file_windows(ds) + (_full_range(min(low, high), max(low, high)),),
        slope=slope,
        intercept=intercept,
        voi_function=function if function in VOI_FUNCTIONS else "LINEAR",
        photometric="MONOCHROME1"
        if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1"
        else "MONOCHROME2",
        bits_stored=int(ds.get("BitsStored", 16) or 16),
        pixel_spacing=spacing,
        spacing_source=source,
        voi_lut=_voi_lut_table(ds),
    )


def _file_windows(ds: Dataset) -> tuple[Window, ...]:
    """Every WindowCenter/Width pair (multi-valued allowed), else the VOI LUT's input range, else none."""
    centers, widths = _floats(ds.get("WindowCenter")), _floats(ds.get("WindowWidth"))
    windows = tuple(
        Window(center=c, width=w, source="WindowCenter/Width")
        for c, w in zip(centers, widths, strict=False)
        if w >= 1
    )
    if windows or "VOILUTSequence" not in ds:
        return windows
    # A VOI LUT table: start from a linear window over the input range the table covers.
    try:
        entries, first, _bits = (int(v) for v in ds.VOILUTSequence[0].LUTDescriptor)
    except (AttributeError, IndexError, TypeError, ValueError):
        return ()
    entries = entries or 65536  # PS3.3: 0 means 2^16 entries
    return (Window(center=first + entries / 2, width=float(entries), source="VOI LUT"),)


def _voi_lut_table(ds: Dataset) -> dict[str, Any] | None:
    """The first VOI LUT as the browser applies it (input below `first` takes the first entry, above the
    table the last), read through pydicom's own apply_voi_lut so the table means what pydicom says."""
    if "VOILUTSequence" not in ds or ("WindowCenter" in ds and "WindowWidth" in ds):
        return None  # a window, when present, is what _file_windows starts from
    try:
        entries, first, bits = (int(v) for v in ds.VOILUTSequence[0].LUTDescriptor)
        entries = entries or 65536
        inputs = np.arange(first, first + entries, dtype=np.int64)
        data = np.asarray(apply_voi_lut(inputs, ds, index=0, prefer_lut=True), dtype=np.int64)
    except Exception:  # a malformed table: the linear window over its range (_file_windows) stands
        return None
    return {"first": first, "bits": bits, "data": data.tolist()}


def _floats(value: Any) -> list[float]:
    """A DS or multi-valued DS as floats ([] when absent or malformed)."""
    if value is None or value == "":
        return []
    items = list(value) if hasattr(value, "__iter__") and not isinstance(value, str | bytes) else [value]
    try:
        return [float(v) for v in items]
    except (TypeError, ValueError):
        return []


def _spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """Pixel Spacing (calibrated in the patient), else Imager Pixel Spacing (at the detector), in mm."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        values = _floats(ds.get(keyword))
        if len(values) == 2 and all(0 < v < 100 for v in values):
            return (values[0], values[1]), keyword
    return None, None


def _full_range(low: float, high: float) -> Window:
    """The window showing every value present, darkest to brightest."""
    return Window(center=(low + high + 1) / 2, width=max(1.0, high - low + 1), source="full range")


def _raster_pixels(data: bytes) -> ViewerPixels:
    """A PNG (8 or 16 bits) or JPEG at full size, EXIF orientation applied, as gray values."""
    with Image.open(io.BytesIO(data)) as opened:
        check_dimensions(*opened.size, max_pixels=MAX_PIXELS, min_side=MIN_SIDE)
        image = ImageOps.exif_transpose(opened)
        if image.mode.startswith("I;16") or image.mode == "I":
            values = np.clip(np.asarray(image, dtype=np.int64), 0, 65535).astype(np.uint16)
            return _raster_result(values, 16 if int(values.max()) > 255 else 8)
        values = np.asarray(image.convert("L"), dtype=np.uint16)
    return _raster_result(values, 8)


def _raster_result(values: np.ndarray, bits: int) -> ViewerPixels:
    """Gray values: 8 bits start as stored (identity window), 16 bits on their full range."""
    full = _full_range(float(values.min()), float(values.max()))
    if bits > 8:
        return ViewerPixels(values=values, windows=(full,), bits_stored=bits)
    return ViewerPixels(values=values, windows=(Window(center=128.0, width=256.0, source="as stored"), full))
