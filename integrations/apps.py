"""The integrations app: results out to hospital systems (FHIR R4 bundles)."""

from __future__ import annotations

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Hospital integrations"
    default_auto_field = "django.db.models.BigAutoField"
