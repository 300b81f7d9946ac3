"""Claims (races, expiry, release) and structured reviews (immutability, amendments, reasons, roles)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.forms.models import model_to_dict
from django.utils import timezone

from audit.models import AuditEvent
from diagnosis.models import Prediction, Study
from portal.errors import Conflict
from reading.checks import check_review_reasons
from reading.models import Review
from reading.services.claims import reading_claim_take
from reading.services.reviews import review_reasons, review_submit
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db


def post(api, user, url: str, data: dict | None = None):
    api.force_authenticate(user)
    return api.post(url, data or {}, format="json")


def expire_claim(study: Study) -> None:
    Study.objects.filter(id=study.id).update(reading_claim_expires_at=timezone.now() - timedelta(seconds=1))


def test_claim_on_the_wire_200_for_the_winner_409_naming_the_holder(api, alice, carol, dave):
    study = completed_study(created_by=alice)
    won = post(api, carol, f"/api/v1/studies/{study.id}/claim/")
    assert won.status_code == 200 and won.json()["claimed_by"] == "carol"
    lost = post(api, dave, f"/api/v1/studies/{study.id}/claim/")
    assert lost.status_code == 409
    error = lost.json()["error"]
    assert error["code"] == "claimed_by_other" and error["fields"]["holder"] == ["carol"]
    assert "carol" in error["message"]
    study.refresh_from_db()
    assert study.reading_claimed_by == carol and study.reading_claim_expires_at > timezone.now()
    claims = AuditEvent.objects.filter(action="study.claim", object_id=str(study.id))
    assert [e.actor_username for e in claims] == ["carol"]
    assert claims[0].after["holder"] == "carol" and claims[0].ip == "127.0.0.1"


def test_renewing_your_own_claim_is_200(api, alice, carol):
    study = completed_study(created_by=alice)
    assert post(api, carol, f"/api/v1/studies/{study.id}/claim/").status_code == 200
    assert post(api, carol, f"/api/v1/studies/{study.id}/claim/").status_code == 200
    assert AuditEvent.objects.filter(action="study.claim", reason="renewed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_claim_race_on_postgresql_two_connections_one_winner(services, alice, carol, dave):
    """Two radiologists claim at the same instant, each on their own database connection."""
    assert connection.vendor == "postgresql"
    study = completed_study(created_by=alice)
    barrier, outcomes = threading.Barrier(2), {}

    def claim(user) -> None:
        try:
            barrier.wait()
            reading_claim_take(user=user, study=Study.objects.get(id=study.id))
            outcomes[user.username] = "won"
        except Conflict as exc:
            outcomes[user.username] = exc.fields["holder"][0]
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in (carol, dave)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winner = next(name for name, outcome in outcomes.items() if outcome == "won")
    loser = ({"carol", "dave"} - {winner}).pop()
    assert outcomes[loser] == winner  # the loser is told who holds it
    assert Study.objects.get(id=study.id).reading_claimed_by.username == winner
    assert list(AuditEvent.objects.filter(action="study.claim").values_list("actor_username", flat=True)) == [
        winner
    ]


def test_expired_claim_can_be_taken_over_and_is_audited(api, alice, carol, dave):
    study = completed_study(created_by=alice)
    reading_claim_take(user=carol, study=study)
    expire_claim(study)
    response = post(api, dave, f"/api/v1/studies/{study.id}/claim/")
    assert response.status_code == 200 and response.json()["claimed_by"] == "dave"
    event = AuditEvent.objects.filter(action="study.claim", actor_username="dave").get()
    assert event.before["holder"] == "carol" and event.reason == "expired claim taken over"


def test_review_refused_while_someone_else_holds_a_live_claim(api, alice, carol, dave):
    study = completed_study(created_by=alice)
    reading_claim_take(user=carol, study=study)
    refused = post(api, dave, f"/api/v1/studies/{study.id}/review/", {"decision": "agree"})
    assert refused.status_code == 409 and refused.json()["error"]["fields"]["holder"] == ["carol"]
    assert not Review.objects.exists()
    expire_claim(study)
    assert post(api, dave, f"/api/v1/studies/{study.id}/review/", {"decision": "agree"}).status_code == 201


def test_claim_not_completed_is_409(api, alice, carol):
    study = completed_study(created_by=alice)
    Study.objects.filter(id=study.id).update(status=Study.Status.PROCESSING)
    response = post(api, carol, f"/api/v1/studies/{study.id}/claim/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_claimable"


def test_release_by_holder_other_and_admin(api, alice, carol, dave, admin_user):
    study = completed_study(created_by=alice)
    reading_claim_take(user=carol, study=study)
    refused = post(api, dave, f"/api/v1/studies/{study.id}/release/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_claim_holder"
    forced = post(api, admin_user, f"/api/v1/studies/{study.id}/release/")
    assert forced.status_code == 200 and forced.json()["claimed_by"] is None
    event = AuditEvent.objects.get(action="study.release")
    assert event.actor_username == "root-admin" and event.before["holder"] == "carol"
    assert event.reason == "released by an admin"
    reading_claim_take(user=carol, study=study)
    assert post(api, carol, f"/api/v1/studies/{study.id}/release/").status_code == 200
    assert Study.objects.get(id=study.id).reading_claimed_by is None
    assert post(api, alice, f"/api/v1/studies/{study.id}/release/").status_code == 403


def test_review_never_edits_the_prediction_and_amendments_are_versions(api, alice, carol, dave):
    study = completed_study(created_by=alice, probability=0.9)
    prediction = study.predictions.get()
    frozen = model_to_dict(prediction)
    reading_claim_take(user=carol, study=study)
    signed = post(api, carol, f"/api/v1/studies/{study.id}/review/", {"decision": "agree", "note": "clear"})
    assert signed.status_code == 201 and signed.json()["version"] == 1
    assert Study.objects.get(id=study.id).reading_claimed_by is None  # signing releases the claim
    amended = post(
        api,
        dave,
        f"/api/v1/studies/{study.id}/review/",
        {
            "decision": "override",
            "final_label": "NORMAL",
            "reason": "false_alarm",
            "note": "artefact",
            "amendment_reason": "second opinion",
        },
    )
    assert amended.status_code == 201
    body = amended.json()
    assert body["version"] == 2 and body["previous"] == signed.json()["id"] and body["reviewer"] == "dave"
    assert model_to_dict(Prediction.objects.get(id=prediction.id)) == frozen
    assert Prediction.objects.filter(study=study).count() == 1
    v1, v2 = Review.objects.filter(study=study).order_by("version")
    assert (v1.is_current, v1.final_label, v1.decision) == (False, "PNEUMONIA", "agree")
    assert (v2.is_current, v2.final_label, v2.reason, v2.previous_id) == (
        True,
        "NORMAL",
        "false_alarm",
        v1.id,
    )
    # A clinician sees the AI result and the final read side by side, and both versions.
    api.force_authenticate(alice)
    detail = api.get(f"/api/v1/studies/{study.id}/").json()
    assert detail["prediction"]["label"] == "PNEUMONIA" and detail["prediction"]["probability"] == 0.9
    assert detail["review"]["final_label"] == "NORMAL" and [r["version"] for r in detail["reviews"]] == [2, 1]
    sign, amend = (
        AuditEvent.objects.get(action=a, object_id=str(study.id)) for a in ("review.sign", "review.amend")
    )
    assert sign.before is None and sign.after["final_label"] == "PNEUMONIA" and sign.reason == "clear"
    assert amend.before == {
        "review_version": 1,
        "decision": "agree",
        "final_label": "PNEUMONIA",
        "reason": "",
        "reviewer": "carol",
    }
    assert amend.after["final_label"] == "NORMAL" and amend.after["ai_label"] == "PNEUMONIA"
    assert amend.after["model_version"] == "test-model"
    assert amend.reason == "second opinion" and amend.after["amendment_reason"] == "second opinion"


def test_clinician_page_labels_ai_and_final_read(client, alice, carol):
    study = completed_study(created_by=alice, probability=0.9)
    review_submit(user=carol, study=study, decision="override", final_label="NORMAL", reason="false_alarm")
    client.force_login(alice)
    html = client.get(f"/studies/{study.id}/").content.decode()
    assert "AI result" in html and "Final read" in html and "not a diagnosis" in html
    assert html.index("Final read") < html.index("AI result") and "superseded" in html
    assert "Pneumonia" in html and "Normal" in html


def test_configurable_reason_list(api, alice, carol, settings):
    settings.AIRSPACE_REVIEW_REASONS = ["missed_finding:Missed consolidation", "other"]
    assert review_reasons() == [("missed_finding", "Missed consolidation"), ("other", "Other")]
    study = completed_study(created_by=alice, probability=0.2)
    hidden = post(
        api,
        carol,
        f"/api/v1/studies/{study.id}/review/",
        {"decision": "override", "final_label": "PNEUMONIA", "reason": "image_quality"},
    )
    assert hidden.status_code == 400
    assert hidden.json()["error"]["fields"]["reason"] == [
        "An override needs a reason, one of: missed_finding, other."
    ]
    assert not Review.objects.exists()
    ok = post(
        api,
        carol,
        f"/api/v1/studies/{study.id}/review/",
        {"decision": "override", "final_label": "PNEUMONIA", "reason": "missed_finding"},
    )
    assert ok.status_code == 201 and ok.json()["reason"] == "missed_finding"
    summary = api.get("/api/v1/worklist/summary/").json()["review_reasons"]
    assert summary == [
        {"code": "missed_finding", "label": "Missed consolidation"},
        {"code": "other", "label": "Other"},
    ]


@pytest.mark.parametrize("configured", [["pneumothorax"], ["other", "other"], []])
def test_reason_list_is_validated_against_the_codes(settings, configured):
    settings.AIRSPACE_REVIEW_REASONS = configured
    with pytest.raises(ImproperlyConfigured):
        review_reasons()
    assert [m.id for m in check_review_reasons()] == ["airspace.E001"]


def test_unknown_reason_or_decision_is_400_not_500(api, alice, carol):
    study = completed_study(created_by=alice)
    for data in (
        {"decision": "maybe"},
        {"decision": "override", "final_label": "NORMAL", "reason": "vibes"},
        {"decision": "override", "final_label": "CANCER", "reason": "other"},
    ):
        response = post(api, carol, f"/api/v1/studies/{study.id}/review/", data)
        assert response.status_code == 400 and response.json()["error"]["fields"]
    assert not Review.objects.exists()


def test_study_page_names_the_reader_until_the_claim_expires(client, alice, carol, dave):
    study = completed_study(created_by=alice)
    reading_claim_take(user=carol, study=study)
    client.force_login(dave)
    assert "being read by carol" in client.get(f"/studies/{study.id}/").content.decode()
    expire_claim(study)
    assert "being read by" not in client.get(f"/studies/{study.id}/").content.decode()
