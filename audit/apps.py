"""The audit trail: events, anchors, verification, the audit page and its commands."""

from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Audit changes to models Airspace does not own (users, groups, admin log entries)."""
        from audit import signals  # noqa: F401
