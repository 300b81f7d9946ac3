"""Reading: the worklist, reading claims, reviews and amendments."""

from __future__ import annotations

from django.apps import AppConfig


class ReadingConfig(AppConfig):
    name = "reading"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Validate the configured review reasons at start-up."""
        from reading import checks  # noqa: F401
