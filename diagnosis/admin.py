"""Django admin: clinical records browsable, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from audit.services.events import ctx
from diagnosis.models import Department, Patient, Prediction, StaffProfile, Study
from diagnosis.services.staff import department_delete, staff_department_set, staff_profile_delete
from portal.readonly_admin import ReadOnlyAdmin


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["id", "study", "label", "probability", "model_version", "created_at"]


@admin.register(Study)
class StudyAdmin(ReadOnlyAdmin):
    list_display = ["id", "patient", "status", "priority", "created_at"]
    list_filter = ["status", "priority"]


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    list_display = ["mrn", "name", "birth_date", "sex"]
    search_fields = ["mrn", "name"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    """Departments; deleting one goes through the staff service, which audits it."""

    def delete_model(self, request: Any, obj: Department) -> None:
        department_delete(department=obj, actor=request.user, context=ctx(request))

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for department in queryset:
            self.delete_model(request, department)


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    """Who works where; every change of a user's department is audited by the staff service."""

    list_display = ["user", "department"]

    def save_model(self, request: Any, obj: StaffProfile, form: Any, change: bool) -> None:
        staff_department_set(
            user=obj.user, department=obj.department, actor=request.user, context=ctx(request)
        )

    def delete_model(self, request: Any, obj: StaffProfile) -> None:
        staff_profile_delete(profile=obj, actor=request.user, context=ctx(request))

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for profile in queryset.select_related("department"):
            self.delete_model(request, profile)
