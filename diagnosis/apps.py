"""Diagnosis: patients, studies, images and predictions (upload and analysis)."""

from __future__ import annotations

from django.apps import AppConfig


class DiagnosisConfig(AppConfig):
    name = "diagnosis"
    default_auto_field = "django.db.models.BigAutoField"
