"""Celery tasks of the portal: thin wrappers that pass ids to services."""

from __future__ import annotations

import smtplib

from celery import shared_task

from portal.services.password_reset import password_reset_email


@shared_task(acks_late=True, autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=10, max_retries=5)
def password_reset_email_task(user_id: int, base_url: str) -> bool:
    """Email a password-reset link (made here, in the worker: the token never sits in the broker)."""
    return password_reset_email(user_id=user_id, base_url=base_url)
