"""UIDs derived from the study and the record, so a resend is the same instance and the PACS files no duplicate.

Each UID is `2.25.` followed by the first 128 bits of SHA-256 over a namespace, the StudyInstanceUID and the
record's kind and id, as a decimal integer (PS3.5 B.2: a UUID-derived UID, at most 44 characters).
"""

from __future__ import annotations

import hashlib

_NAMESPACE = "airspace-result"


def derived_uid(study_instance_uid: str, *parts: str) -> str:
    """The same inputs always give the same UID; different inputs a different one (with UUID odds)."""
    text = "\x1f".join((_NAMESPACE, study_instance_uid, *parts))
    return f"2.25.{int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], 'big')}"


def ai_sr_uid(study_instance_uid: str, prediction_id: str) -> str:
    return derived_uid(study_instance_uid, "ai-sr", prediction_id)


def capture_uid(study_instance_uid: str, prediction_id: str) -> str:
    return derived_uid(study_instance_uid, "heatmap-sc", prediction_id)


def review_sr_uid(study_instance_uid: str, review_id: str) -> str:
    return derived_uid(study_instance_uid, "review-sr", review_id)


def series_uid(study_instance_uid: str, series: str) -> str:
    """One series per kind of output and study: "ai-sr", "heatmap-sc" or "review-sr"."""
    return derived_uid(study_instance_uid, "series", series)
