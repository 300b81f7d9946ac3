"""The clinical app: patients, studies, images, predictions, reviews and audit."""

from __future__ import annotations

from django.apps import AppConfig


class DiagnosisConfig(AppConfig):
    name = "diagnosis"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Wire the worker's model warm-up (the signal handler imports TensorFlow only in workers)."""
        # Config checks, role/admin-change audit, and the worker's model warm-up.
        from diagnosis import checks, signals, worker_signals  # noqa: F401
