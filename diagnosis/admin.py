"""Django admin: clinical records browsable, read-only."""

from __future__ import annotations

from django.contrib import admin

from diagnosis.models import Department, Patient, Prediction, StaffProfile, Study
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


admin.site.register(Department)
admin.site.register(StaffProfile)
