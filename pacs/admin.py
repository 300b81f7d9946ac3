"""Django admin: DICOM nodes, changed only through the audited node services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from audit.services.events import ctx
from pacs.models import DicomDelivery, DicomNode
from pacs.services.deliveries import dicom_delivery_retry
from pacs.services.nodes import NodeSpec, dicom_node_add, dicom_node_remove
from portal.readonly_admin import ReadOnlyAdmin


class DicomNodeForm(forms.ModelForm):
    """The add form: the fields `manage.py dicom_node add` takes."""

    class Meta:
        model = DicomNode
        fields = ["name", "ae_title", "host", "port", "inbound", "outbound", "department", "dicomweb_url"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not (cleaned.get("inbound") or cleaned.get("outbound")):
            raise forms.ValidationError("A node is inbound, outbound or both.")
        return cleaned


@admin.register(DicomNode)
class DicomNodeAdmin(ReadOnlyAdmin):
    """Nodes are added here or with `manage.py dicom_node add`, removed here or with `remove`: both through
    the audited node services; an existing node is not edited (remove it and add it again)."""

    form = DicomNodeForm
    list_display = ["name", "ae_title", "host", "port", "inbound", "outbound", "department", "active"]
    list_filter = ["inbound", "outbound", "active"]

    def get_fields(self, request: Any, obj: Any = None) -> list[str]:
        added = ["active", "service_user", "created_at"] if obj is not None else []
        return [*DicomNodeForm.Meta.fields, *added]

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return request.user.is_superuser or request.user.has_perm("pacs.add_dicomnode")

    def save_model(self, request: Any, obj: DicomNode, form: Any, change: bool) -> None:
        """Add through dicom_node_add (the node's service account, the audit event)."""
        spec = NodeSpec(
            name=obj.name,
            ae_title=obj.ae_title,
            host=obj.host,
            port=obj.port,
            inbound=obj.inbound,
            outbound=obj.outbound,
            department=obj.department.name if obj.department else "",
            dicomweb_url=obj.dicomweb_url,
        )
        obj.pk = dicom_node_add(spec=spec, actor=request.user, context=ctx(request)).pk

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
