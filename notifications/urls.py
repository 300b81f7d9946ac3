"""Notification pages."""

from __future__ import annotations

from django.urls import path

from notifications.views import notifications, preferences

urlpatterns = [
    path("notifications/", notifications.notifications_page, name="notifications"),
    path(
        "notifications/unread-count/",
        notifications.notifications_unread_count,
        name="notifications-unread-count",
    ),
    path("notifications/read-all/", notifications.notifications_read_all, name="notifications-read-all"),
    path("notifications/preferences/", preferences.preferences_page, name="notification-preferences"),
    path("notifications/<int:pk>/open/", notifications.notification_open, name="notification-open"),
    path("notifications/<int:pk>/read/", notifications.notification_read, name="notification-read"),
]
