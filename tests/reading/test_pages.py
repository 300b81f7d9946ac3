"""Reading pages: the next study, signing and overriding a read, the configured reasons."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from reading.models import Review
from reading.services.claims import reading_claim_take
from tests.diagnosis.factories import completed_study
from tests.fixtures.pages import client_for, html

pytestmark = pytest.mark.django_db


def test_next_claims_the_first_free_study_and_skips_one_being_read(carol: Any, dave: Any, alice: Any) -> None:
    taken = completed_study(created_by=alice, probability=0.99)
    free = completed_study(created_by=alice, probability=0.7)
    reading_claim_take(user=dave, study=taken)
    response = client_for(carol).post(reverse("worklist-next"))
    assert response.status_code == 302 and response["Location"] == reverse("study-detail", args=[free.id])
    free.refresh_from_db()
    assert free.reading_claimed_by == carol
    assert AuditEvent.objects.filter(action="study.claim", object_id=str(free.id), actor=carol).exists()
    again = client_for(carol).post(reverse("worklist-next"), {"after": str(free.id)}, follow=True)
    assert again.redirect_chain[-1][0] == reverse("worklist") and "Nothing else" in html(again)


def test_override_without_reason_is_refused_then_signed_with_one(carol: Any, alice: Any) -> None:
    study = completed_study(created_by=alice)
    client = client_for(carol)
    url = reverse("study-review", args=[study.id])
    refused = client.post(url, {"decision": "override", "final_label": "NORMAL"}, follow=True)
    assert "needs a reason" in html(refused) and not Review.objects.exists()
    signed = client.post(url, {"decision": "override", "final_label": "NORMAL", "reason": "false_alarm"})
    review = Review.objects.get()
    assert signed.status_code == 302 and review.final_label == "NORMAL" and review.reason == "false_alarm"
    assert study.predictions.get().label == "PNEUMONIA"  # the AI output is never changed
    event = AuditEvent.objects.get(action="review.sign")
    assert event.after["decision"] == "override" and event.actor == carol
    body = html(client.get(reverse("study-detail", args=[study.id])))
    assert "Override AI" in body and "Model false alarm" in body


# --- roles --------------------------------------------------------------------------------------------


def test_review_form_offers_the_sites_configured_reasons(carol: Any, alice: Any, settings: Any) -> None:
    settings.AIRSPACE_REVIEW_REASONS = ["missed_finding:Missed consolidation", "other"]
    study = completed_study(created_by=alice)
    body = html(client_for(carol).get(reverse("study-detail", args=[study.id])))
    select = re.search(r'<select name="reason".*?</select>', body, re.S).group(0)
    assert "Missed consolidation" in select and 'value="other"' in select and "false_alarm" not in select
