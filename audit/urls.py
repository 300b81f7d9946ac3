"""The audit page."""

from __future__ import annotations

from django.urls import path

from audit.views import events

urlpatterns = [
    path("audit/", events.audit, name="audit"),
]
