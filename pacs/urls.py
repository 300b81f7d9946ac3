"""Page routes of the pacs app."""

from __future__ import annotations

from django.urls import path

from pacs.views.deliveries import dicom_delivery_retry_view

urlpatterns = [
    path(
        "studies/<uuid:pk>/dicom-deliveries/<int:delivery_id>/retry/",
        dicom_delivery_retry_view,
        name="study-dicom-delivery-retry",
    ),
]
