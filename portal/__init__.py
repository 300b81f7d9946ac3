"""Airspace portal: Django project (settings, urls, Celery app, auth and roles)."""

from __future__ import annotations

from portal.celery import app as celery_app

__all__ = ["celery_app"]
