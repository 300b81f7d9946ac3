"""GET /api/v1/audit/ (admin): audit events, newest first, filterable by actor, action, object and date."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers

from audit.models import AuditEvent
from audit.selectors import AUDIT_FIELDS, audit_filters, audit_list
from portal.api import permissions
from portal.api.audited import AuditedListMixin
from portal.api.schema import DATE_RANGE, query_param

AUDIT_FILTERS = [
    query_param("actor", "Exact username of the actor."),
    query_param("action", "Action prefix, e.g. `study.` or `auth.login`."),
    query_param("object_type", "Object type, e.g. study, image, prediction, user."),
    query_param("object_id", "Exact object id."),
    *DATE_RANGE,
]


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username")

    class Meta:
        model = AuditEvent
        fields = ["actor" if name == "actor_username" else name for name in AUDIT_FIELDS]


@extend_schema_view(get=extend_schema(parameters=AUDIT_FILTERS))
class AuditListView(AuditedListMixin, generics.ListAPIView):
    """Admin: audit events, newest first, filterable by actor, action, object and date."""

    permission_classes = [permissions.Admin]
    serializer_class = AuditEventSerializer
    # Events carry MRNs and names (patient.create, study.upload): reading them is a read of PHI too.
    audit_action, audit_object_type = "audit.view", "audit"

    def get_queryset(self) -> Any:
        return audit_list(filters=audit_filters(self.request.query_params))
