"""Issue #16, the reading pages: an explicit summary before signing an indeterminate study, signing opens
the next study, skipping gives the claim back, and the override form offers only what the service accepts."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from diagnosis.models import Study
from reading.models import Review
from reading.services.claims import reading_claim_take
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study
from tests.diagnosis.test_pages import Tags, assert_no_inline_code, client_for, html

pytestmark = pytest.mark.django_db


def test_agreeing_with_an_indeterminate_study_shows_a_summary_before_anything_is_signed(
    alice: Any, carol: Any
) -> None:
    study = completed_study(created_by=alice, probability=0.45, threshold=0.5, indeterminate=True)
    client = client_for(carol)
    detail = html(client.get(reverse("study-detail", args=[study.id])))
    assert "Review and sign…" in detail and "shows a summary to confirm first" in detail
    url = reverse("study-review", args=[study.id])
    summary = client.post(url, {"decision": "agree", "note": "Subtle, re-read."})
    body = html(summary)
    assert summary.status_code == 200 and not Review.objects.exists()
    assert "You are about to sign" in body and "Agree with the AI" in body and "Normal" in body
    assert "Confirm and sign" in body and "Subtle, re-read." in body
    page = Tags(body)
    heading = page.find("h1", id="confirm-h")[0]
    assert "autofocus" in heading, "focus lands on the heading, so another Enter signs nothing"
    hidden = {a["name"]: a["value"] for a in page.find("input", type="hidden")}
    assert hidden["decision"] == "agree" and hidden["confirmed"] == "on"
    assert_no_inline_code(body)
    confirmed = client.post(url, {**hidden})
    review = Review.objects.get()
    assert (review.decision, review.final_label, review.note) == ("agree", "NORMAL", "Subtle, re-read.")
    assert confirmed.status_code == 302
    assert AuditEvent.objects.filter(action="review.sign", actor=carol).count() == 1


def test_signing_opens_the_next_study_with_a_way_back(alice: Any, carol: Any) -> None:
    first = completed_study(created_by=alice, probability=0.97)
    second = completed_study(created_by=alice, probability=0.81)
    client = client_for(carol)
    reading_claim_take(user=carol, study=first)
    response = client.post(reverse("study-review", args=[first.id]), {"decision": "agree"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("study-detail", args=[second.id])
    second.refresh_from_db()
    assert second.reading_claimed_by == carol
    body = html(response)
    assert "Signed Pneumonia for" in body and first.patient.mrn in body
    assert f'href="{reverse("study-detail", args=[first.id])}"' in body and "Back to the worklist" in body
    last = client.post(reverse("study-review", args=[second.id]), {"decision": "agree"}, follow=True)
    assert last.redirect_chain[-1][0] == reverse("worklist") and "Nothing else" in html(last)


def test_skipping_to_the_next_study_gives_the_skipped_claim_back(alice: Any, carol: Any) -> None:
    skipped = completed_study(created_by=alice, probability=0.97)
    following = completed_study(created_by=alice, probability=0.81)
    reading_claim_take(user=carol, study=skipped)
    response = client_for(carol).post(reverse("worklist-next"), {"after": str(skipped.id)})
    assert response["Location"] == reverse("study-detail", args=[following.id])
    skipped.refresh_from_db()
    following.refresh_from_db()
    assert skipped.reading_claimed_by is None and following.reading_claimed_by == carol
    release = AuditEvent.objects.get(action="study.release", object_id=str(skipped.id))
    assert release.actor == carol


def test_skipping_never_releases_someone_elses_claim(alice: Any, carol: Any, dave: Any) -> None:
    theirs = completed_study(created_by=alice, probability=0.97)
    reading_claim_take(user=dave, study=theirs)
    client_for(carol).post(reverse("worklist-next"), {"after": str(theirs.id)})
    theirs.refresh_from_db()
    assert (
        theirs.reading_claimed_by == dave and not AuditEvent.objects.filter(action="study.release").exists()
    )


def test_override_form_offers_non_diagnostic_with_its_reasons_and_not_the_ai_label(
    alice: Any, carol: Any
) -> None:
    study = completed_study(created_by=alice, probability=0.9)
    page = Tags(html(client_for(carol).get(reverse("study-detail", args=[study.id]))))
    labels = {
        o["value"]: o
        for o in page.find("option")
        if o.get("value") in ("NORMAL", "PNEUMONIA", "NON_DIAGNOSTIC")
    }
    assert set(labels) == {"NORMAL", "PNEUMONIA", "NON_DIAGNOSTIC"}
    assert "disabled" in labels["PNEUMONIA"] and "disabled" not in labels["NORMAL"]
    reasons = {o["value"]: o["data-labels"].split() for o in page.find("option") if "data-labels" in o}
    assert reasons["wrong_input"] == ["NON_DIAGNOSTIC"]
    assert "NON_DIAGNOSTIC" not in reasons["false_alarm"] and "NON_DIAGNOSTIC" in reasons["image_quality"]


def test_an_override_that_keeps_the_ai_label_is_refused_on_the_page(alice: Any, carol: Any) -> None:
    study = completed_study(created_by=alice, probability=0.9)
    response = client_for(carol).post(
        reverse("study-review", args=[study.id]),
        {"decision": "override", "final_label": "PNEUMONIA", "reason": "other"},
        follow=True,
    )
    assert "choose Agree to keep it" in html(response) and not Review.objects.exists()


def test_a_wrong_input_read_is_signed_from_the_page_and_leads_as_non_diagnostic(
    alice: Any, carol: Any
) -> None:
    study = completed_study(created_by=alice, probability=0.9)
    client_for(carol).post(
        reverse("study-review", args=[study.id]),
        {"decision": "override", "final_label": "NON_DIAGNOSTIC", "reason": "wrong_input"},
    )
    review = Review.objects.get()
    assert (review.final_label, review.reason) == ("NON_DIAGNOSTIC", "wrong_input")
    body = html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    final = body[body.index('id="final-read"') :].split("</section>")[0]
    assert "Non-diagnostic" in final and "Not a chest X-ray / wrong input" in final
    listed = html(client_for(alice).get(reverse("study-list")))
    assert "Non-diagnostic" in listed and "(Not a chest X-ray / wrong input)" in listed


def test_amending_a_read_needs_a_reason_on_the_page(alice: Any, carol: Any) -> None:
    study = completed_study(created_by=alice, probability=0.9)
    review_submit(user=carol, study=study, decision="agree")
    client = client_for(carol)
    page = Tags(html(client.get(reverse("study-detail", args=[study.id]))))
    field = page.find("input", name="amendment_reason")
    assert field and "required" in field[0]
    url = reverse("study-review", args=[study.id])
    refused = client.post(
        url, {"decision": "override", "final_label": "NORMAL", "reason": "false_alarm"}, follow=True
    )
    assert "Reason for amending" in html(refused) and Review.objects.count() == 1
    client.post(
        url,
        {
            "decision": "override",
            "final_label": "NORMAL",
            "reason": "false_alarm",
            "amendment_reason": "Prior film",
        },
    )
    assert Review.objects.get(is_current=True).amendment_reason == "Prior film"
    assert Study.objects.get(id=study.id).reviews.count() == 2
