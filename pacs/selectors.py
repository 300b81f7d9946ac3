"""Reads of the pacs app."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from pacs.dicom_objects.records import AnalysedImage, StudyIdentity
from pacs.models import DicomDelivery, DicomNode, InboundStudy, ReceivedInstance


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


def study_identity(*, study: Any) -> StudyIdentity | None:
    """The original study a DICOM- or STOW-received study came from (what results are filed back into)."""
    inbound = (
        InboundStudy.objects.filter(study=study, state=InboundStudy.State.RELEASED).order_by("id").first()
    )
    if inbound is None:
        return None
    return StudyIdentity(
        study_instance_uid=inbound.study_instance_uid,
        patient_id=inbound.patient_id,
        patient_name=inbound.patient_name,
        patient_birth_date=inbound.patient_birth_date,
        patient_sex=inbound.patient_sex,
        issuer_of_patient_id=inbound.issuer_of_patient_id,
        accession_number=inbound.accession_number,
        study_id=inbound.dicom_study_id,
        study_date=inbound.study_date,
        study_time=inbound.study_time,
        referring_physician_name=inbound.referring_physician_name,
        study_description=inbound.study_description,
    )


def analysed_image(*, image: Any) -> AnalysedImage | None:
    """The original UIDs of the received instance an image was filed from (None for an uploaded file)."""
    row = (
        ReceivedInstance.objects.filter(image=image)
        .values("sop_class_uid", "sop_instance_uid", "series_instance_uid")
        .first()
    )
    return AnalysedImage(**row) if row else None


def received_instances(*, status: str = "") -> QuerySet[ReceivedInstance]:
    """Received instances, newest first, optionally of one status (admins only: callers check the role)."""
    queryset = ReceivedInstance.objects.select_related("node", "sender", "inbound_study").defer("payload")
    return queryset.filter(status=status) if status else queryset
