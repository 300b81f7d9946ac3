"""Bytes → a validated grayscale image: JPEG, PNG or DICOM, with every refusal given a stable code.

Pure Pillow/pydicom (no TensorFlow) so the web process can validate an upload synchronously.
Formats are recognised by magic bytes, never by file name; dimensions are checked from the header
before any pixel is decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import re
import warnings

from PIL import Image, ImageOps

from mlcore.dicom import decode_dicom
from mlcore.errors import InvalidImage
from mlcore.image import DRAFT_MIN_SIDE, DecodedImage, check_dimensions, colorfulness, reduction_factor
from mlcore.preprocessing import to_grayscale

MAX_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 60_000_000
MIN_SIDE = 64
# JPEGs are decoded at a DCT scale of 1/2, 1/4 or 1/8 while both sides stay >= DRAFT_MIN_SIDE (mlcore.image).
# On the 116 originals vs full decode: pixel correlation >= 0.9996 (training's own 224 JPEG copies are only
# >= 0.996 to the originals), |dp| median 1e-5, p95 0.003, max 0.013 with airspace-cnn-1.0.0; it halves the
# decode p50 and cuts p95 ~3x. 4x (896) gives |dp| < 1e-4 but saves little (see tests/mlcore/test_decoding.py).

_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG2000"),
)
# Markers of active content: an image carrying them is a polyglot (e.g. a JPEG whose comment is HTML).
_ACTIVE_CONTENT = re.compile(rb"<script|<html|<\?php|<svg|<iframe|<body|<!doctype|javascript:", re.IGNORECASE)
_ZIP_END = b"PK\x05\x06"


def sniff_format(data: bytes) -> str | None:
    """The container format from magic bytes ("JPEG", "PNG", "DICOM", "GIF", "PDF", ...) or None.

    DICOM's "DICM" at offset 128 is checked first: PS3.10 lets the 128-byte preamble hold another
    format's header (dual-personality DICOM/TIFF files start with "II*\\0").
    """
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "DICOM"
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if _looks_like_headerless_dicom(data):
        return "DICOM"
    return None


def _looks_like_headerless_dicom(data: bytes) -> bool:
    """A DICOM stream without the 128-byte preamble starts with a group 0002 or 0008 element."""
    if len(data) < 8:
        return False
    group = int.from_bytes(data[0:2], "little")
    element = int.from_bytes(data[2:4], "little")
    if group not in (0x0002, 0x0008) or element > 0x0100:
        return False
    vr = data[4:6]
    # Explicit VR has a two-letter VR; implicit VR has a 4-byte little-endian length instead.
    return vr.isalpha() and vr.isupper() or int.from_bytes(data[4:8], "little") < 1024


def decode_image(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
    validate_only: bool = False,
) -> DecodedImage:
    """Validate and decode an upload, raising InvalidImage with a stable code on any refusal.

    validate_only: the caller needs the verdict and the header facts, not the pixels (the web's check
    of an upload). A JPEG is then not decoded (_validate_jpeg); a PNG or DICOM is. `image` is then not the
    model's input: the worker's decode is.
    """
    if not data:
        raise InvalidImage("The file is empty.", code="empty_file")
    if len(data) > max_bytes:
        raise InvalidImage(
            f"The file is larger than the {max_bytes / 2**20:g} MB upload limit.",
            code="file_too_large",
        )
    kind = sniff_format(data)
    if kind not in ("JPEG", "PNG", "DICOM"):
        raise InvalidImage(_unsupported_message(kind), code="unsupported_format")
    try:
        with warnings.catch_warnings():
            # Hostile files make Pillow/pydicom warn about every broken tag; the answer is the error code.
            warnings.simplefilter("ignore", UserWarning)
            if kind == "DICOM":
                return decode_dicom(data, max_pixels=max_pixels, min_side=min_side)
            _refuse_polyglot(data, kind)
            if validate_only and kind == "JPEG":
                return _validate_jpeg(data, max_pixels=max_pixels, min_side=min_side)
            return _decode_raster(data, kind, max_pixels=max_pixels, min_side=min_side)
    except InvalidImage:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # the contract: hostile bytes give InvalidImage, never another exception
        raise InvalidImage(f"The {kind} file is malformed and cannot be read.", code="corrupt_image") from exc


def _unsupported_message(kind: str | None) -> str:
    """A human explanation of why a container is refused."""
    found = f"is a {kind} file" if kind else "is not an image we recognise"
    return f"This file {found}. Please upload a chest X-ray as JPEG, PNG or DICOM."


def _refuse_polyglot(data: bytes, kind: str) -> None:
    """Refuse image files that also carry a ZIP archive or markup/script (polyglots)."""
    tail = data[-(65535 + 22) :]
    at = tail.rfind(_ZIP_END)
    if at >= 0 and at + 22 <= len(tail):
        comment_len = int.from_bytes(tail[at + 20 : at + 22], "little")
        if at + 22 + comment_len == len(tail):
            raise InvalidImage(
                "The file is an image with an archive appended; it is refused for safety.",
                code="unsupported_format",
            )
    # Only metadata and trailing bytes are searched: compressed pixel data matches short patterns by chance.
    if any(_ACTIVE_CONTENT.search(region) for region in _non_pixel_regions(data, kind)):
        raise InvalidImage(
            "The file contains web page or script content besides the image; it is refused for safety.",
            code="unsupported_format",
        )


def _non_pixel_regions(data: bytes, kind: str) -> list[bytes]:
    """Metadata segments (JPEG APPn/COM, PNG chunks other than IDAT) and bytes after the image's end."""
    regions, pos = [], 2 if kind == "JPEG" else 8
    while pos + 8 <= len(data):
        if kind == "JPEG":
            if data[pos] != 0xFF or data[pos + 1] == 0xDA:  # start of scan: headers are over
                break
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            regions.append(data[pos + 4 : pos + 2 + length])
            pos += 2 + length
        else:
            length, chunk = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
            if chunk != b"IDAT":
                regions.append(data[pos + 8 : pos + 8 + length])
            pos += 12 + length
            if chunk == b"IEND":
                regions.append(data[pos:])
                break
    if kind == "JPEG":
        end = data.rfind(b"\xff\xd9")
        regions.append(data[end + 2 :] if end >= len(data) - 65536 else data[-65536:])
    return regions


def _open_raster(data: bytes, kind: str, max_pixels: int) -> Image.Image:
    """Open (not decode) a JPEG/PNG, mapping Pillow's bomb and parse errors to InvalidImage."""
    try:
        image = Image.open(io.BytesIO(data), formats=[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb() from exc
    except Exception as exc:  # Pillow raises many types for a bad header
        raise InvalidImage(f"The {kind} file is damaged and cannot be read.", code="corrupt_image") from exc
    if getattr(image, "n_frames", 1) > 1:
        raise InvalidImage(
            "Animated images are not accepted; upload a single X-ray.", code="unsupported_format"
        )
    return image


def _bomb() -> InvalidImage:
    """The error for an image whose declared size is absurd."""
    return InvalidImage("The image declares more pixels than we accept.", code="too_many_pixels")


def _undecodable(kind: str) -> InvalidImage:
    """The error for a file whose header reads but whose image data does not."""
    return InvalidImage(
        f"The {kind} file is truncated or damaged and cannot be decoded.", code="corrupt_image"
    )


def _displayed_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    """The size as displayed: an EXIF orientation of 5-8 transposes the stored image."""
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _validate_jpeg(data: bytes, *, max_pixels: int, min_side: int) -> DecodedImage:
    """The upload check of a JPEG, without decoding it: the header's facts and size limits, and scan data
    closed by the end-of-image marker, so a file cut short is refused as the full decode refuses it.

    Decoding at even 1/8 scale cost the web ~2 ms per upload (bench/load.py); the worker decodes anyway.
    Entropy-coded data damaged past what libjpeg tolerates (it tolerates most, as the 1/8 decode did) is
    found there, and the study ends failed with the same corrupt_image message.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open_raster(data, "JPEG", max_pixels)
    width, height = image.size
    check_dimensions(width, height, max_pixels=max_pixels, min_side=min_side)
    scan_start = image.tile[0][2] if image.tile else len(data)
    # In entropy-coded data 0xFF is always followed by 0x00 or a restart marker: FF D9 there is the end.
    if data.rfind(b"\xff\xd9") < scan_start:  # searched from the end, where the marker normally is
        raise _undecodable("JPEG")
    try:
        orientation = int(image.getexif().get(0x0112, 1) or 1)
    except Exception as exc:
        raise _undecodable("JPEG") from exc
    width, height = _displayed_size(width, height, orientation)
    return DecodedImage(
        image=image,
        width=width,
        height=height,
        format="JPEG",
        mode=image.mode,
        meta={"exif_orientation": orientation},
    )


def _decode_raster(data: bytes, kind: str, *, max_pixels: int, min_side: int) -> DecodedImage:
    """Decode a JPEG or PNG: header checks, reduced-scale JPEG decode, EXIF orientation, grayscale."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open_raster(data, kind, max_pixels)
        width, height = image.size
        check_dimensions(width, height, max_pixels=max_pixels, min_side=min_side)
        mode = image.mode
        if kind == "JPEG" and mode in ("L", "RGB"):
            image.draft(mode, (DRAFT_MIN_SIDE, DRAFT_MIN_SIDE))
        try:
            image.load()
            orientation = int(image.getexif().get(0x0112, 1) or 1)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb() from exc
        except Exception as exc:
            raise _undecodable(kind) from exc
    image = ImageOps.exif_transpose(image) if orientation != 1 else image
    image = reduce_for_model(image) if kind == "PNG" else image  # JPEGs were reduced by draft()
    width, height = _displayed_size(width, height, orientation)
    return DecodedImage(
        image=to_grayscale(image),
        width=width,
        height=height,
        format=kind,
        mode=mode,
        meta={"exif_orientation": orientation},
        colorfulness=colorfulness(image),
    )


def reduce_for_model(image: Image.Image) -> Image.Image:
    """Box-average a large PNG by an integer factor: the lossless-format analogue of JPEG draft().

    A 12-megapixel PNG otherwise costs ~60 ms of bicubic resampling to reach 224 px.
    """
    factor = reduction_factor(*image.size)
    if factor == 1 or image.mode in ("P", "1"):
        return image
    if image.mode.startswith("I;16"):
        image = image.convert("I")  # reduce() does not take 16-bit modes
    return image.reduce(factor)
