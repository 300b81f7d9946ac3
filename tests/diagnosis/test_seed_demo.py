"""`manage.py seed_demo` (make run's demo users): one per role, each with an address the console backend shows."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import CommandError, call_command

from notifications.models import EmailState, Kind, Notification
from notifications.services.email import notification_email_send
from notifications.services.fanout import notification_event_record
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--password", "demo-password-123", *args, stdout=out)
    return out.getvalue()


def test_demo_users_get_addresses_and_keep_one_an_admin_changed():
    printed = _seed()
    assert "created user clinician <clinician@example.org>" in printed
    emails = dict(User.objects.values_list("username", "email"))
    assert emails == {r: f"{r}@example.org" for r in ("clinician", "radiologist", "admin")}
    User.objects.filter(username="radiologist").update(email="dr.rad@hospital.example")
    assert "updated user radiologist <dr.rad@hospital.example>" in _seed("--email-domain", "demo.example")
    assert User.objects.get(username="radiologist").email == "dr.rad@hospital.example"
    assert User.objects.get(username="clinician").email == "clinician@example.org"


def test_a_bad_email_domain_is_refused_before_any_user_is_written():
    with pytest.raises(CommandError, match="not an email domain"):
        _seed("--email-domain", "not a domain")
    assert not User.objects.exists()


def test_the_demo_clinician_is_emailed_when_the_demo_radiologist_signs():
    _seed()
    clinician, radiologist = (User.objects.get(username=n) for n in ("clinician", "radiologist"))
    study = completed_study(created_by=clinician)
    review = review_submit(user=radiologist, study=study, decision="agree")
    to_email = notification_event_record(kind=Kind.READ_SIGNED, study_id=study.id, source_key=str(review.id))
    notification = Notification.objects.get(recipient=clinician)
    assert to_email == [notification.id] and notification.email_state == EmailState.PENDING
    assert notification_email_send(notification_id=notification.id).state == "sent"
    assert [m.to for m in mail.outbox] == [["clinician@example.org"]]
