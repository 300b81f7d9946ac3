"""Notifications: who is told (role, scope, choice), once; the bell, the list, the API; email and its faults."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core import mail
from django.template import engines
from django.test import RequestFactory
from django.utils import timezone

from audit.models import AuditEvent
from diagnosis.hooks import prediction_recorded
from diagnosis.models import Prediction, Study
from notifications.context_processors import bell
from notifications.models import EmailState, Kind, Notification, Preference
from notifications.services.email import email_sweep, notification_email_send
from notifications.services.events import needs_a_radiologist
from notifications.services.fanout import escalations_record, notification_event_record
from notifications.tasks import email_sweep_task
from reading.services.reviews import review_submit
from tests.conftest import ROOT
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def emails(alice, bob, carol, dave):
    """Everyone has an address."""
    for user in (alice, bob, carol, dave):
        user.email = f"{user.username}@hospital.example"
        user.save()
    return {u.username: u.email for u in (alice, bob, carol, dave)}


@pytest.fixture
def signed(alice, carol, emails):
    """Alice's study, its read signed by Carol, and the notification event recorded."""
    study = completed_study(created_by=alice)
    study.accession_number = "ACC-7"
    study.save()
    review = review_submit(user=carol, study=study, decision="agree")
    to_email = notification_event_record(kind=Kind.READ_SIGNED, study_id=study.id, source_key=str(review.id))
    return study, review, to_email


def test_the_requesting_clinician_is_told_of_a_signed_read_once(signed, alice, bob):
    study, review, to_email = signed
    notification = Notification.objects.get()
    assert notification.recipient == alice and notification.kind == Kind.READ_SIGNED
    assert notification.title == "Read signed: Pneumonia (ACC-7)" and "carol" in notification.body
    assert notification.email_state == EmailState.PENDING and to_email == [notification.id]
    # A redelivered task finds the event and tells nobody twice.
    assert (
        notification_event_record(kind=Kind.READ_SIGNED, study_id=study.id, source_key=str(review.id)) == []
    )
    assert Notification.objects.count() == 1 and not Notification.objects.filter(recipient=bob).exists()
    event = AuditEvent.objects.get(action="notification.create")
    assert event.after["recipients"] == ["alice"] and event.object_id == str(study.id)


def test_an_amendment_tells_the_clinician_again_with_the_reason(signed, alice, carol):
    study, _, _ = signed
    amended = review_submit(
        user=carol,
        study=study,
        decision="override",
        final_label="NORMAL",
        reason="false_alarm",
        amendment_reason="Thymus, not consolidation.",
    )
    notification_event_record(kind=Kind.READ_AMENDED, study_id=study.id, source_key=str(amended.id))
    latest = Notification.objects.filter(recipient=alice).first()
    assert latest.kind == Kind.READ_AMENDED and latest.title == "Read amended: Normal (ACC-7)"
    assert "Thymus, not consolidation." in latest.body


def test_email_goes_through_django_mail_and_names_no_patient(signed, alice, settings):
    settings.AIRSPACE_PUBLIC_URL = "https://airspace.hospital.example"
    study, _, to_email = signed
    outcome = notification_email_send(notification_id=to_email[0])
    assert outcome.state == "sent" and len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [alice.email] and message.subject == "Airspace: A read was signed"
    assert f"https://airspace.hospital.example/studies/{study.id}/" in message.body
    assert study.patient.mrn not in message.body and study.patient.name not in message.body
    assert Notification.objects.get().email_state == EmailState.SENT
    assert notification_email_send(notification_id=to_email[0]).state == "skipped"  # sent once only
    assert AuditEvent.objects.filter(action="notification.email_sent").count() == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_smtp_server_that_refuses_is_retried_then_recorded_as_failed(signed, settings):
    options = {"host": "127.0.0.1", "port": _closed_port(), "timeout": 2}
    settings.MAILERS = {
        "default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}
    }
    settings.AIRSPACE_NOTIFY_EMAIL_MAX_ATTEMPTS = 2
    _, _, to_email = signed
    first = notification_email_send(notification_id=to_email[0])
    assert first.state == "retry" and first.delay == 10
    row = Notification.objects.get()
    assert row.email_state == EmailState.PENDING and "ConnectionRefusedError" in row.email_error
    assert notification_email_send(notification_id=to_email[0]).state == "failed"
    assert Notification.objects.get().email_state == EmailState.FAILED
    assert AuditEvent.objects.filter(action="notification.email_failed").count() == 1


def _arrivals(alice, count):
    """`count` positive studies of Alice's, each arrival recorded (Carol and Dave, the radiologists, told)."""
    studies = [completed_study(created_by=alice, probability=0.9) for _ in range(count)]
    for study in studies:
        notification_event_record(kind=Kind.STUDY_ARRIVED, study_id=study.id)
    return studies


def test_one_email_carries_the_recipients_other_pending_notifications(alice, carol, dave, emails, settings):
    """#17: a burst of arrivals is one email to each radiologist, not one per study; the other
    notifications' own tasks then find them sent and stop."""
    settings.AIRSPACE_PUBLIC_URL = "https://airspace.hospital.example"
    studies = _arrivals(alice, 3)
    carols = list(Notification.objects.filter(recipient=carol).order_by("id"))
    assert notification_email_send(notification_id=carols[0].id).state == "sent"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [carol.email]
    message = mail.outbox[0]
    assert message.subject == "Airspace: 3 updates"
    for study in studies:
        assert f"https://airspace.hospital.example/studies/{study.id}/" in message.body
        assert study.patient.mrn not in message.body and study.patient.name not in message.body
    assert [n.state for n in (notification_email_send(notification_id=n.id) for n in carols[1:])] == [
        "skipped",
        "skipped",
    ]
    assert set(Notification.objects.filter(recipient=carol).values_list("email_state", flat=True)) == {
        EmailState.SENT
    }
    # Dave's are his own: still pending, sent by his own first task.
    assert set(Notification.objects.filter(recipient=dave).values_list("email_state", flat=True)) == {
        EmailState.PENDING
    }
    sent = AuditEvent.objects.get(action="notification.email_sent")
    assert sent.after["notification"] == carols[0].id and sent.after["with"] == [n.id for n in carols[1:]]


def test_a_failed_email_gives_its_companions_back_each_with_its_own_task(
    alice, carol, dave, emails, settings, monkeypatch
):
    from notifications.services import email as email_service

    republished = []
    monkeypatch.setattr(email_service, "email_task_send", republished.append)
    options = {"host": "127.0.0.1", "port": _closed_port(), "timeout": 2}
    settings.MAILERS = {
        "default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}
    }
    _arrivals(alice, 3)
    carols = list(Notification.objects.filter(recipient=carol).order_by("id"))
    assert notification_email_send(notification_id=carols[0].id).state == "retry"
    assert republished == [n.id for n in carols[1:]]
    rows = Notification.objects.filter(id__in=[n.id for n in carols[1:]])
    assert {(n.email_state, n.email_claimed_at, n.email_attempts) for n in rows} == {
        (EmailState.PENDING, None, 0)
    }


def test_the_sweep_sends_emails_whose_task_was_lost_one_task_per_recipient(
    alice, carol, dave, emails, settings, monkeypatch
):
    """Broker down at publish, or a worker killed mid-send: beat's sweep sends one task per recipient, and
    that task's email carries the recipient's other pending notifications, a dead task's claim included."""
    from notifications.services import email as email_service

    published = []
    monkeypatch.setattr(email_service, "email_task_send", published.append)
    _arrivals(alice, 3)
    assert email_sweep() == 0 and not published  # just recorded: their own tasks are on their way
    carols = list(Notification.objects.filter(recipient=carol).order_by("id"))
    daves = list(Notification.objects.filter(recipient=dave).order_by("id"))
    dead_claim = timezone.now() - timedelta(minutes=6)  # taken by a worker that died mid-send
    Notification.objects.filter(id=carols[1].id).update(email_claimed_at=dead_claim, email_attempts=1)
    later = timezone.now() + timedelta(seconds=settings.AIRSPACE_EMAIL_LOST_AFTER_SECONDS + 1)
    assert email_sweep(now=later) == 2
    assert sorted(published) == sorted([carols[0].id, daves[0].id])
    assert notification_email_send(notification_id=carols[0].id).state == "sent"
    assert [m.subject for m in mail.outbox] == ["Airspace: 3 updates"]
    assert set(Notification.objects.filter(recipient=carol).values_list("email_state", flat=True)) == {
        EmailState.SENT
    }
    assert settings.CELERY_BEAT_SCHEDULE["sweep-notification-emails"]["task"] == email_sweep_task.name


def test_choices_bell_only_or_nothing(alice, carol, emails):
    Preference.objects.create(user=alice, kind=Kind.READ_SIGNED, in_app=True, email=False)
    study = completed_study(created_by=alice)
    review = review_submit(user=carol, study=study, decision="agree")
    assert (
        notification_event_record(kind=Kind.READ_SIGNED, study_id=study.id, source_key=str(review.id)) == []
    )
    assert Notification.objects.get().email_state == EmailState.NOT_WANTED
    Preference.objects.filter(user=alice).update(in_app=False)
    other = completed_study(created_by=alice)
    review = review_submit(user=carol, study=other, decision="agree")
    notification_event_record(kind=Kind.READ_SIGNED, study_id=other.id, source_key=str(review.id))
    assert Notification.objects.filter(study=other).count() == 0


def test_radiologists_hear_of_positive_urgent_and_indeterminate_arrivals_only(alice, carol, dave, emails):
    assert needs_a_radiologist(priority="routine", label="PNEUMONIA", indeterminate=False)
    assert needs_a_radiologist(priority="urgent", label="NORMAL", indeterminate=False)
    assert needs_a_radiologist(priority="routine", label="NORMAL", indeterminate=True)
    assert not needs_a_radiologist(priority="routine", label="NORMAL", indeterminate=False)
    study = completed_study(created_by=alice, probability=0.4, indeterminate=True, priority="urgent")
    notification_event_record(kind=Kind.STUDY_ARRIVED, study_id=study.id)
    told = Notification.objects.filter(kind=Kind.STUDY_ARRIVED)
    assert sorted(n.recipient.username for n in told) == ["carol", "dave"]
    assert told[0].body == "Urgent and indeterminate AI result."


def test_escalation_scan_tells_once_per_waiting_study(alice, carol, emails, settings):
    settings.AIRSPACE_ESCALATE_AFTER_MINUTES = 60
    waiting = completed_study(created_by=alice, probability=0.9)
    normal = completed_study(created_by=alice, probability=0.1)
    read = completed_study(created_by=alice, probability=0.9)
    review_submit(user=carol, study=read, decision="agree")
    fresh = completed_study(created_by=alice, probability=0.9)
    Study.objects.exclude(id=fresh.id).update(created_at=timezone.now() - timedelta(hours=2))
    assert escalations_record() == 1
    notification = Notification.objects.get(kind=Kind.STUDY_ESCALATED, recipient=carol)
    assert notification.study_id == waiting.id and notification.title.startswith("Waiting over 60 min")
    assert escalations_record() == 0  # already told
    assert not Notification.objects.filter(
        study__in=[normal, read, fresh], kind=Kind.STUDY_ESCALATED
    ).exists()


def test_bell_list_open_and_mark_read_pages(client, signed, alice, bob, nobody):
    client.force_login(alice)
    page = client.get("/studies/").content.decode()
    assert 'id="bell"' in page and 'data-unread="1"' in page
    listing = client.get("/notifications/")
    assert listing.status_code == 200 and "Read signed: Pneumonia (ACC-7)" in listing.content.decode()
    notification = Notification.objects.get()
    client.force_login(bob)
    assert client.post(f"/notifications/{notification.id}/open/").status_code == 404  # not his
    client.force_login(alice)
    opened = client.post(f"/notifications/{notification.id}/open/")
    assert opened.status_code == 302 and opened["Location"] == f"/studies/{notification.study_id}/"
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert 'data-unread="0"' in client.get("/studies/").content.decode()
    assert client.get(f"/notifications/{notification.id}/open/").status_code == 405
    client.force_login(nobody)
    assert client.get("/notifications/").status_code == 403


def test_mark_all_read(client, signed, alice):
    client.force_login(alice)
    assert client.post("/notifications/read-all/").status_code == 302
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_preferences_page_saves_the_choices_of_the_users_roles_and_audits(client, alice):
    client.force_login(alice)
    page = client.get("/notifications/preferences/").content.decode()
    assert "read_signed-email" in page and "study_arrived" not in page  # a clinician's kinds only
    response = client.post(
        "/notifications/preferences/",
        {
            "read_signed-in_app": "on",
            "read_amended-in_app": "on",
            "read_amended-email": "on",
            "study_arrived-email": "on",
        },
    )
    assert response.status_code == 302
    rows = {p.kind: (p.in_app, p.email) for p in Preference.objects.filter(user=alice)}
    assert rows == {"read_signed": (True, False), "read_amended": (True, True)}
    event = AuditEvent.objects.get(action="notification.preferences")
    assert event.before == {"read_signed": {"in_app": True, "email": True}}
    assert event.after == {"read_signed": {"in_app": True, "email": False}}


def test_api_lists_only_your_own_and_marks_read(api, signed, alice, bob):
    notification = Notification.objects.get()
    api.force_authenticate(bob)
    assert api.get("/api/v1/notifications/").json()["count"] == 0
    assert api.post(f"/api/v1/notifications/{notification.id}/read/").status_code == 404
    api.force_authenticate(alice)
    listing = api.get("/api/v1/notifications/?unread=true")
    assert listing["X-Unread-Count"] == "1" and listing.json()["results"][0]["title"].startswith(
        "Read signed"
    )
    marked = api.post(f"/api/v1/notifications/{notification.id}/read/")
    assert marked.status_code == 200 and marked.json()["read_at"]
    assert api.get("/api/v1/notifications/?unread=true").json()["count"] == 0


def _prod_settings(**extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "portal.settings.prod",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "airspace.example",
        "DATABASE_URL": "postgres://u:p@db:5432/airspace",
        "AIRSPACE_AUDIT_HMAC_KEY": "k" * 32,
        **extra,
    }
    probe = "import django; django.setup(); from django.conf import settings; print(settings.MAILERS['default']['BACKEND'])"
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_email_is_smtp_when_configured_none_otherwise_and_refuses_half_configurations():
    off = _prod_settings()
    assert off.returncode == 0 and off.stdout.strip() == "portal.mail.NoMailServerBackend"
    smtp = {
        "AIRSPACE_EMAIL_HOST": "smtp.hospital.example",
        "AIRSPACE_EMAIL_FROM": "airspace@hospital.example",
    }
    good = _prod_settings(**smtp, AIRSPACE_PUBLIC_URL="https://airspace.hospital.example")
    assert good.returncode == 0 and good.stdout.strip().endswith("smtp.EmailBackend"), good.stderr[-500:]
    no_url = _prod_settings(**smtp)
    assert no_url.returncode != 0 and "AIRSPACE_PUBLIC_URL" in no_url.stderr
    both = _prod_settings(**smtp, AIRSPACE_PUBLIC_URL="https://a.example", AIRSPACE_EMAIL_SSL="1")
    assert both.returncode != 0 and "both on" in both.stderr
    console = _prod_settings(AIRSPACE_EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend")
    assert console.returncode != 0 and "AIRSPACE_EMAIL_BACKEND is for development" in console.stderr


def test_the_prediction_hook_publishes_after_commit_behind_waiting_studies_only_when_needed(
    alice, monkeypatch, django_capture_on_commit_callbacks
):
    """A routine negative costs nothing; a positive publishes its event task after the commit, at the
    emails' broker priority (9: after every waiting study, which is 6)."""
    from celery import current_app

    published = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **options: published.append((name, options)))
    positive = completed_study(created_by=alice, probability=0.9)
    negative = completed_study(created_by=alice, probability=0.1)
    with django_capture_on_commit_callbacks(execute=True) as routine:
        prediction_recorded.send(sender=Prediction, prediction=negative.predictions.get())
    with django_capture_on_commit_callbacks(execute=False) as needs_reading:
        prediction_recorded.send(sender=Prediction, prediction=positive.predictions.get())
    assert len(needs_reading) == len(routine) + 1 and not published  # nothing before the commit
    needs_reading[-1]()
    assert published == [
        (
            "notifications.tasks.notification_event_task",
            {"args": ["study_arrived", str(positive.id), ""], "priority": 9},
        )
    ]
    assert not Notification.objects.exists()  # the worker that takes the task records it


def test_the_bell_costs_no_query_on_fragments_that_do_not_draw_it(client, alice, django_assert_num_queries):
    request = RequestFactory().get("/")
    request.user = alice
    context = bell(request)
    with django_assert_num_queries(0):
        engines["django"].from_string("<p>fragment</p>").render({**context}, request)
    with django_assert_num_queries(1):
        assert str(context["unread_notifications"]) == "0"


def test_the_polled_unread_count_is_your_own_and_refused_without_a_role(client, signed, alice, bob, nobody):
    client.force_login(alice)
    answer = client.get("/notifications/unread-count/")
    assert answer.status_code == 200 and answer.json() == {"unread": 1}
    assert answer["Cache-Control"] == "no-store"
    client.force_login(bob)  # another clinician: Alice's notification is not his
    assert client.get("/notifications/unread-count/").json() == {"unread": 0}
    assert client.post("/notifications/unread-count/").status_code == 405
    client.force_login(nobody)
    assert client.get("/notifications/unread-count/").status_code == 403
    client.logout()
    assert client.get("/notifications/unread-count/").status_code == 302  # to the login page
    Notification.objects.update(read_at=timezone.now())
    client.force_login(alice)
    assert client.get("/notifications/unread-count/").json() == {"unread": 0}
