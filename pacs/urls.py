"""Routes of the pacs app: DICOMweb STOW-RS and the delivery retry page."""

from __future__ import annotations

from django.urls import path

from pacs.api.stow import StowView
from pacs.views.deliveries import dicom_delivery_retry_view
from pacs.views.received import received_list

urlpatterns = [
    path(
        "studies/<uuid:pk>/dicom-deliveries/<int:delivery_id>/retry/",
        dicom_delivery_retry_view,
        name="study-dicom-delivery-retry",
    ),
    path("dicom/received/", received_list, name="dicom-received"),
    path("dicomweb/studies", StowView.as_view(), name="dicomweb-stow"),
    path("dicomweb/studies/<str:study_uid>", StowView.as_view(), name="dicomweb-stow-study"),
]
