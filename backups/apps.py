"""Backups: `manage.py backup --out DIR` and `manage.py restore --from DIR` (database, media, anchors)."""

from __future__ import annotations

from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    default_auto_field = "django.db.models.BigAutoField"
