"""Django admin: clinical records browsable; the audit trail strictly read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from diagnosis.models import (
    AuditAnchor,
    AuditEvent,
    Department,
    Patient,
    Prediction,
    Review,
    StaffProfile,
    Study,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete through the admin."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor_username", "action", "object_type", "object_id", "ip"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_username", "object_id", "action"]


@admin.register(AuditAnchor)
class AuditAnchorAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "head_hash", "created_at"]


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["id", "study", "label", "probability", "model_version", "created_at"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "study", "version", "decision", "final_label", "reviewer", "signed_at"]


@admin.register(Study)
class StudyAdmin(ReadOnlyAdmin):
    list_display = ["id", "patient", "status", "priority", "created_at"]
    list_filter = ["status", "priority"]


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    list_display = ["mrn", "name", "birth_date", "sex"]
    search_fields = ["mrn", "name"]


admin.site.register(Department)
admin.site.register(StaffProfile)
