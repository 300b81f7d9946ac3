"""/api/v1/ routes of the integrations app."""

from __future__ import annotations

from django.urls import path

from integrations.api.fhir import StudyFhirView

urlpatterns = [
    path("studies/<uuid:pk>/fhir/", StudyFhirView.as_view(), name="api-study-fhir"),
]
