"""Read side of the integrations app: a study's HL7 delivery state, for the study JSON and page."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from integrations.models import Hl7Delivery
from integrations.services.hl7 import hl7_enabled

_ATTR = "_ehr_delivery_list"


def _row(delivery: Hl7Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event": delivery.event,
        "status": delivery.state,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "control_id": delivery.control_id,
        "updated_at": delivery.delivered_at or delivery.created_at,
    }


def ehr_deliveries_prefetch(studies: Iterable[Any]) -> None:
    """Attach every study's deliveries in one query, whatever the page size (nothing when HL7 is off)."""
    studies = list(studies)
    by_study: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if hl7_enabled() and studies:
        rows = Hl7Delivery.objects.filter(study_id__in=[s.id for s in studies]).order_by("id")
        for delivery in rows:
            by_study[delivery.study_id].append(_row(delivery))
    for study in studies:
        setattr(study, _ATTR, by_study.get(study.id, []))


def ehr_deliveries(study: Any) -> list[dict[str, Any]]:
    """The study's deliveries, oldest first (the prefetched list when present; empty when HL7 is off)."""
    if not hasattr(study, _ATTR):
        ehr_deliveries_prefetch([study])
    return getattr(study, _ATTR)


def ehr_delivery_get(*, study: Any, delivery_id: int) -> Hl7Delivery:
    """One delivery of a study the caller already may see; Http404 when it belongs to another study."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(Hl7Delivery, id=delivery_id, study_id=study.id)
