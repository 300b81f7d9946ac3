"""Django admin: DICOM nodes, changed only through the audited node services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from audit.services.events import ctx
from pacs.models import DicomDelivery, DicomNode
from pacs.services.deliveries import dicom_delivery_retry
from pacs.services.nodes import dicom_node_remove
from portal.readonly_admin import ReadOnlyAdmin


@admin.register(DicomNode)
class DicomNodeAdmin(ReadOnlyAdmin):
    """Browsable; added with `manage.py dicom_node add` (audited), removed here through the same service."""

    list_display = ["name", "ae_title", "host", "port", "inbound", "outbound", "department", "active"]
    list_filter = ["inbound", "outbound", "active"]

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return request.user.is_superuser or request.user.has_perm("pacs.delete_dicomnode")

    def delete_model(self, request: Any, obj: DicomNode) -> None:
        dicom_node_remove(name=obj.name, actor=request.user, context=ctx(request))

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for node in queryset:
            self.delete_model(request, node)


@admin.register(DicomDelivery)
class DicomDeliveryAdmin(ReadOnlyAdmin):
    """Every result delivery to a DICOM node; failed ones are sent again with the action (audited)."""

    list_display = [
        "id",
        "study",
        "node",
        "kind",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "kind", "node"]
    actions = ["retry_failed"]

    @admin.action(description="Send the selected failed deliveries again")
    def retry_failed(self, request: Any, queryset: Any) -> None:
        failed = list(queryset.filter(status=DicomDelivery.Status.FAILED))
        for delivery in failed:
            dicom_delivery_retry(delivery=delivery, actor=request.user, context=ctx(request))
        self.message_user(request, f"{len(failed)} failed deliveries queued again.")
