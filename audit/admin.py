"""Django admin: the audit trail, strictly read-only."""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditAnchor, AuditEvent
from portal.readonly_admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor_username", "action", "object_type", "object_id", "ip"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_username", "object_id", "action"]


@admin.register(AuditAnchor)
class AuditAnchorAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "head_hash", "created_at"]
