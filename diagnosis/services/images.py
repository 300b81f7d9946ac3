"""One uploaded image: validated by decoding it, named safely, de-identified, and described by an Image row.

Nothing here writes: the upload service (services/studies.py) stores what these functions accept.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

from diagnosis.models import Image
from mlcore import InvalidImage
from mlcore.decoding import decode_image
from mlcore.image import DecodedImage
from portal.errors import DomainError, PayloadTooLarge

logger = logging.getLogger(__name__)


def safe_filename(name: str) -> str:
    """A display-only file name: no path, no control characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    return name[:200] or "upload"


def upload_size_check(size: int) -> None:
    """Refuse (413) a file above AIRSPACE_MAX_UPLOAD_BYTES, saying what the limit is."""
    if size > settings.AIRSPACE_MAX_UPLOAD_BYTES:
        limit = f"{settings.AIRSPACE_MAX_UPLOAD_BYTES / 2**20:.3g} MB"
        message = f"The file is larger than the {limit} upload limit."
        raise PayloadTooLarge(message, code="file_too_large", fields={"image": [message]})


def image_decode(data: bytes) -> DecodedImage:
    """Validate the upload synchronously so that bad files are refused with a 4xx, not stored (the
    result's `image` is a reduced validation decode: use its header facts, not its pixels)."""
    upload_size_check(len(data))
    try:
        return decode_image(
            data,
            max_bytes=settings.AIRSPACE_MAX_UPLOAD_BYTES,
            max_pixels=settings.AIRSPACE_MAX_PIXELS,
            min_side=settings.AIRSPACE_MIN_SIDE,
            validate_only=True,  # only the verdict and header facts are used here; the worker decodes
        )
    except InvalidImage as exc:
        error = PayloadTooLarge if exc.code == "file_too_large" else DomainError
        raise error(str(exc), code=exc.code, fields={"image": [str(exc)]}) from exc
    except Exception as exc:  # noqa: BLE001 - a decoder crash on hostile bytes is a 400, never a 500
        logger.warning("Decoder crashed on an upload: %r", exc)
        message = "The file is damaged or malformed and cannot be read."
        raise DomainError(message, code="corrupt_image", fields={"image": [message]}) from exc


def identifier_digest(value: str) -> str:
    """A keyed hash of an original DICOM identifier: matchable by the site, not reversible from the DB."""
    return salted_hmac("airspace.dicom.identifier", value.strip(), algorithm="sha256").hexdigest()


def dicom_uid_salt() -> bytes:
    """The secret salt for UID remapping: AIRSPACE_DICOM_UID_SALT, or one derived from SECRET_KEY."""
    if settings.AIRSPACE_DICOM_UID_SALT:
        return settings.AIRSPACE_DICOM_UID_SALT.encode()
    return salted_hmac("airspace.dicom.uid-remap", "v1", algorithm="sha256").digest()


def _deidentify(data: bytes, decoded: DecodedImage, mrn: str) -> tuple[bytes, dict[str, Any]]:
    """Strip identifying DICOM tags before storage when the site has it on (the default).

    The mapping back to the portal's patient is the Image row itself (image -> study -> patient) plus
    keyed hashes of the original identifiers, so a site can match a source file without storing it.
    """
    if decoded.format != "DICOM" or not settings.AIRSPACE_DEIDENTIFY_DICOM:
        return data, {}
    from mlcore.deidentify import TABLE_EDITION, deidentify

    cleaned = deidentify(data, uid_salt=dicom_uid_salt())
    identifiers = cleaned.identifiers
    patient_id = identifiers.get("PatientID", "").strip()
    return cleaned.data, {
        "profile": "PS3.15 Basic Application Level Confidentiality Profile (DCM 113100)",
        "table": TABLE_EDITION,
        "original_hmac_sha256": {k: identifier_digest(v) for k, v in identifiers.items() if v.strip()},
        "patient_id_matches_mrn": (patient_id == mrn.strip()) if patient_id else None,
    }


def image_record(
    *, name: str, data: bytes, decoded: DecodedImage, mrn: str, role: str = ""
) -> tuple[Image, bytes]:
    """An unsaved Image row for an accepted upload, and the bytes to store (DICOM de-identified if on)."""
    stored, deidentification = _deidentify(data, decoded, mrn)
    meta = {**decoded.meta, "flags": list(decoded.flags)} | ({"role": role} if role else {})
    image = Image(
        original_filename=safe_filename(name),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(stored),
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        meta=meta | ({"deidentification": deidentification} if deidentification else {}),
        deidentified=bool(deidentification),
    )
    return image, stored
