"""Model operations: the model page, monitoring, model health and the model-info API."""

from __future__ import annotations

from django.apps import AppConfig


class ModelOpsConfig(AppConfig):
    name = "modelops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Wire the worker's bundle check and model warm-up (TensorFlow is imported only in workers)."""
        from modelops import worker_signals  # noqa: F401
