"""DICOMweb STOW-RS (PS3.18 10.5): the instances of a multipart/related request, each received like a
C-STORE (services/receive.py), and the Store Instances Response as DICOM JSON."""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from pacs.services.receive import Received, Sender, instance_receive
from pacs.services.routing import DamagedInstance, instance_header
from portal.errors import DomainError, PayloadTooLarge

DICOM_JSON = "application/dicom+json"
# PS3.18 failure reasons (FailureReason 0008,1197) and the warning given to ignored instances (0008,1196).
CANNOT_UNDERSTAND, OUT_OF_RESOURCES, STUDY_UID_MISMATCH = 0xC000, 0xA700, 0xA900
ELEMENTS_DISCARDED = 0xB006
MISMATCH_RULE = "study_uid_mismatch"


class UnsupportedMediaType(DomainError):
    status_code = 415


def stow_limit() -> int:
    """The largest STOW-RS request body: a full study (the upload limit per image, four images)."""
    return settings.AIRSPACE_MAX_UPLOAD_BYTES * 4


def stow_parts(*, content_type: str, body: bytes) -> list[bytes]:
    """The application/dicom parts of a multipart/related body; 415 for any other media type."""
    if len(body) > stow_limit():
        raise PayloadTooLarge(
            f"The request is larger than {stow_limit() // 2**20} MB.", code="file_too_large"
        )
    media = content_type.split(";", 1)[0].strip().lower()
    if (
        media != "multipart/related"
        or 'type="application/dicom"' not in content_type.replace(" ", "").lower()
    ):
        raise UnsupportedMediaType(
            'Send multipart/related; type="application/dicom" (PS3.18 STOW-RS).',
            code="unsupported_media_type",
        )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise DomainError("The multipart body has no parts (check the boundary).", code="invalid_multipart")
    parts = [part for part in message.iter_parts() if part.get_content_type() == "application/dicom"]
    if not parts:
        raise DomainError("The request holds no application/dicom part.", code="invalid_multipart")
    return [part.get_payload(decode=True) or b"" for part in parts]


def stow_store(*, parts: Sequence[bytes], sender: Sender, study_uid: str = "") -> list[Received]:
    """Receive every part (each committed on its own); one to a study other than the URL's fails."""
    outcomes = []
    for data in parts:
        if study_uid and not _in_study(data, study_uid):
            outcomes.append(
                Received("failed", rule=MISMATCH_RULE, reason="Not an instance of the study in the URL.")
            )
            continue
        outcomes.append(instance_receive(data=data, sender=sender))
    return outcomes


def _in_study(data: bytes, study_uid: str) -> bool:
    try:
        header, _ = instance_header(data)
    except DamagedInstance:
        return True  # received as usual, where the damage is recorded
    return header.study_instance_uid == study_uid


def _element(vr: str, value: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": [value]}


def stow_response(outcomes: Sequence[Received]) -> tuple[int, dict[str, Any]]:
    """The HTTP status (200 all stored, 202 with failures or warnings, 409 none stored) and the JSON."""
    referenced, failed = [], []
    for outcome in outcomes:
        item = {
            "00081150": _element("UI", outcome.sop_class_uid) if outcome.sop_class_uid else {"vr": "UI"},
            "00081155": _element("UI", outcome.sop_instance_uid)
            if outcome.sop_instance_uid
            else {"vr": "UI"},
        }
        if not outcome.stored:
            reason = STUDY_UID_MISMATCH if outcome.rule == MISMATCH_RULE else CANNOT_UNDERSTAND
            failed.append(
                {**item, "00081197": _element("US", OUT_OF_RESOURCES if outcome.too_large else reason)}
            )
        elif outcome.status == "ignored":
            referenced.append({**item, "00081196": _element("US", ELEMENTS_DISCARDED)})
        else:
            referenced.append(item)
    body: dict[str, Any] = {}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    warned = any("00081196" in item for item in referenced)
    status = 409 if not referenced else (202 if failed or warned else 200)
    return status, body
