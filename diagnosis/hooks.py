"""Where apps built on diagnosis (pacs) join in without diagnosis or reading importing them.

Each signal is sent explicitly by the one service that makes the change, inside its transaction, so a
receiver's rows commit or roll back with it; receivers are connected in their app's `ready()`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.dispatch import Signal

# A served prediction was recorded (never sent for a shadow run): kwargs `prediction`.
prediction_recorded = Signal()
# A radiologist signed a read or an amendment: kwargs `review`.
review_signed = Signal()
# Asked for studies' outbound result deliveries (study JSON and page): kwargs `studies`; each receiver
# answers {study id: [row dicts]} (destination, kind, status, attempts, last_error, ...).
deliveries_wanted = Signal()

_ATTR = "_result_deliveries"


def result_deliveries_prefetch(studies: Iterable[Any]) -> None:
    """Attach every study's result deliveries, as the receivers report them (one query per receiver)."""
    studies = list(studies)
    merged: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if studies:
        for _receiver, answer in deliveries_wanted.send(sender=None, studies=studies):
            for study_id, rows in (answer or {}).items():
                merged[study_id].extend(rows)
    for study in studies:
        setattr(study, _ATTR, merged.get(study.id, []))


def result_deliveries_none(study: Any) -> None:
    """A study created in this request has no result deliveries yet: answer [] without asking receivers."""
    setattr(study, _ATTR, [])


def result_deliveries(study: Any) -> list[dict[str, Any]]:
    """The study's result deliveries to DICOM nodes (the prefetched list when present)."""
    if not hasattr(study, _ATTR):
        result_deliveries_prefetch([study])
    return getattr(study, _ATTR)
