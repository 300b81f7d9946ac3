"""/api/v1/ routes of the integrations app."""

from __future__ import annotations

from django.urls import path

from integrations.api.fhir import StudyFhirView
from integrations.api.hl7 import EhrDeliveryRetryView

urlpatterns = [
    path("studies/<uuid:pk>/fhir/", StudyFhirView.as_view(), name="api-study-fhir"),
    path(
        "studies/<uuid:pk>/ehr-deliveries/<int:delivery_id>/retry/",
        EhrDeliveryRetryView.as_view(),
        name="api-study-ehr-delivery-retry",
    ),
]
