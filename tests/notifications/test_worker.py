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
        warm_up = completed_study(created_by=alice)  # the first read of a process pays its imports
        review_submit(user=carol, study=warm_up, decision="agree")
        _wait_for(lambda: Notification.objects.filter(email_state=EmailState.SENT).exists())
        Notification.objects.all().update(email_state=EmailState.NOT_WANTED)
        study = completed_study(created_by=alice)
        started = time.monotonic()
        review_submit(user=carol, study=study, decision="agree")
        signed = time.monotonic()
        # Signing wrote no notification itself: the worker does, after commit.
        assert not Notification.objects.filter(study=study).exists()
        _wait_for(lambda: Notification.objects.filter(study=study, email_state=EmailState.SENT).exists())
        # The figure in docs/BENCHMARKS.md (run with -s): how long signing took, and until the email was sent.
        print(
            f"\nsign {1000 * (signed - started):.0f} ms; email sent {time.monotonic() - signed:.2f} s after commit"
        )
        notification = Notification.objects.get(study=study)
        assert notification.recipient == alice and notification.kind == Kind.READ_SIGNED
        # The file backend writes each message, then a line of dashes; two sends in the same second by the
        # same connection object share one file, so count messages, not files.
        dashes = "\n" + "-" * 79 + "\n"
        texts = [p.read_text() for p in sorted(outbox.iterdir(), key=lambda p: p.stat().st_mtime)]
        messages = [m for text in texts for m in text.split(dashes) if m.strip()]
        assert len(messages) == 2
        message = email.message_from_string(messages[-1])
        assert message["To"] == "alice@hospital.example"
        assert f"/studies/{study.id}/" in message.get_payload(decode=True).decode()
        _wait_for(lambda: Report.objects.filter(study=study).exclude(sha256="").exists())
    finally:
        stop_worker(worker)
