"""PACS: Airspace as a DICOM node (studies in over C-STORE and STOW-RS, results out as DICOM objects)."""

from __future__ import annotations

from django.apps import AppConfig


class PacsConfig(AppConfig):
    name = "pacs"
    verbose_name = "DICOM network (PACS)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pacs import receivers

        receivers.connect()
