"""The whole path on the real services: signing publishes after commit, a Celery worker tells the clinician."""

from __future__ import annotations

import email
import time
from pathlib import Path

import pytest

from notifications.models import EmailState, Kind, Notification
from reading.models import Report
from reading.services.reviews import review_submit
from tests.conftest import start_worker, stop_worker
from tests.diagnosis.factories import completed_study


def _wait_for(check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError("the worker did not get there in time")


@pytest.mark.django_db(transaction=True)
def test_signing_returns_at_once_and_a_worker_emails_the_clinician_and_renders_the_report(
    services, alice, carol, settings, tmp_path: Path
):
    alice.email = "alice@hospital.example"
    alice.save()
    outbox = tmp_path / "mail"
    worker = start_worker(settings, env={"AIRSPACE_EMAIL_FILE_PATH": str(outbox)}, log_name="notify-worker")
    try:
        study = completed_study(created_by=alice)
        review_submit(user=carol, study=study, decision="agree")
        # Signing wrote no notification itself: the worker does, after commit.
        _wait_for(lambda: Notification.objects.filter(email_state=EmailState.SENT).exists())
        notification = Notification.objects.get()
        assert notification.recipient == alice and notification.kind == Kind.READ_SIGNED
        files = list(outbox.iterdir())
        assert len(files) == 1
        # The file backend writes the message, then a line of dashes.
        message = email.message_from_string(files[0].read_text().rsplit("\n" + "-" * 79, 1)[0])
        assert message["To"] == "alice@hospital.example"
        assert f"/studies/{study.id}/" in message.get_payload(decode=True).decode()
        _wait_for(lambda: Report.objects.filter(study=study).exclude(sha256="").exists())
    finally:
        stop_worker(worker)
