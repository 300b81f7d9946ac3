"""/api/v1/ routes of the pacs app."""

from __future__ import annotations

from django.urls import path

from pacs.api.deliveries import DicomDeliveryRetryView

urlpatterns = [
    path(
        "studies/<uuid:pk>/dicom-deliveries/<int:delivery_id>/retry/",
        DicomDeliveryRetryView.as_view(),
        name="api-study-dicom-delivery-retry",
    ),
]
