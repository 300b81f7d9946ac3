"""/api/v1/ routes of the notifications app."""

from __future__ import annotations

from django.urls import path

from notifications.api.notifications import NotificationListView, NotificationReadView

urlpatterns = [
    path("notifications/", NotificationListView.as_view(), name="api-notifications"),
    path(
        "notifications/<int:notification_id>/read/",
        NotificationReadView.as_view(),
        name="api-notification-read",
    ),
]
