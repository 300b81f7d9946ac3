"""Celery tasks of the reading app: thin wrappers that pass ids to services."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from reading.services.reports import report_render


@shared_task(acks_late=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=2, max_retries=5)
def report_render_task(report_id: str) -> str | None:
    """Draw a signed report's PDF once (a download that came first has already done it: then nothing)."""
    report = report_render(report_id=report_id)
    return report.sha256 if report is not None else None
