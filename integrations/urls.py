"""Page routes of the integrations app."""

from __future__ import annotations

from django.urls import path

from integrations import views

urlpatterns = [
    path(
        "studies/<uuid:pk>/ehr-deliveries/<int:delivery_id>/retry/",
        views.ehr_delivery_retry,
        name="study-ehr-delivery-retry",
    ),
]
