"""Reads of the pacs app."""

from __future__ import annotations

from django.db.models import QuerySet

from pacs.models import DicomNode


def dicom_nodes() -> QuerySet[DicomNode]:
    """Every node, by name (admins only: callers check the role)."""
    return DicomNode.objects.select_related("department").order_by("name")


def inbound_node_for(*, ae_title: str, host: str) -> DicomNode | None:
    """The active inbound node with this calling AE title registered at this address, if any."""
    return (
        DicomNode.objects.select_related("department", "service_user")
        .filter(active=True, inbound=True, ae_title=ae_title.strip(), host=host)
        .first()
    )
