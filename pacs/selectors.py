"""Reads of the pacs app."""

from __future__ import annotations

import socket
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from pacs.models import DicomDelivery, DicomNode, ReceivedInstance


def dicom_nodes() -> QuerySet[DicomNode]:
    """Every node, by name (admins only: callers check the role)."""
    return DicomNode.objects.select_related("department").order_by("name")


def inbound_node_for(*, ae_title: str, host: str) -> DicomNode | None:
    """The active inbound node with this calling AE title registered at this address: its IP, or a host
    name that resolves to it."""
    nodes = DicomNode.objects.select_related("department", "service_user").filter(
        active=True, inbound=True, ae_title=ae_title.strip()
    )
    candidates = list(nodes)
    return next((n for n in candidates if n.host == host), None) or next(
        (n for n in candidates if host in _addresses(n.host)), None
    )


def _addresses(name: str) -> set[str]:
    """The IP addresses a registered host name resolves to (none when it does not resolve)."""
    try:
        return {info[4][0] for info in socket.getaddrinfo(name, None)}
    except (OSError, UnicodeError):
        return set()


def _delivery_row(delivery: DicomDelivery) -> dict[str, Any]:
    node = delivery.node
    return {
        "id": delivery.id,
        "destination": node.name,
        "destination_address": node.dicomweb_url or f"{node.ae_title}@{node.host}:{node.port}",
        "kind": delivery.kind,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "sop_instance_uid": delivery.sop_instance_uid,
        "created_at": delivery.created_at,
        "delivered_at": delivery.delivered_at,
    }


def dicom_delivery_rows(studies: Iterable[Any]) -> dict[Any, list[dict[str, Any]]]:
    """Each study's result deliveries to DICOM nodes, oldest first, in one query for all of them."""
    by_study: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    rows = DicomDelivery.objects.select_related("node").filter(study_id__in=[s.id for s in studies])
    for delivery in rows.order_by("id"):
        by_study[delivery.study_id].append(_delivery_row(delivery))
    return by_study


def dicom_delivery_get(*, study: Any, delivery_id: int) -> DicomDelivery:
    """One delivery of a study the caller already may see; Http404 when it belongs to another study."""
    return get_object_or_404(DicomDelivery, id=delivery_id, study_id=study.id)


def received_instances(*, status: str = "") -> QuerySet[ReceivedInstance]:
    """Received instances, newest first, optionally of one status (admins only: callers check the role)."""
    queryset = ReceivedInstance.objects.select_related("node", "sender", "inbound_study")
    return queryset.filter(status=status) if status else queryset
