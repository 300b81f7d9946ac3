"""The radiologist worklist: reading order with a frozen clock, filters, badges, claim visibility, roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from diagnosis.models import Study
from reading.models import Review
from reading.selectors import WorklistFilters, worklist_counts, worklist_for
from reading.services.claims import reading_claim_take
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0)


def aged(study: Study, minutes: int, now=T0) -> Study:
    """Backdate a study's upload (created_at is auto_now_add)."""
    Study.objects.filter(id=study.id).update(created_at=now - timedelta(minutes=minutes))
    return study


@pytest.fixture
def queue(alice):
    """Six studies whose reading order is known by hand (ages relative to T0)."""
    return {
        "high": aged(completed_study(created_by=alice, probability=0.95), 10),
        "urgent": aged(completed_study(created_by=alice, probability=0.2, priority="urgent"), 20),
        "indeterminate": aged(completed_study(created_by=alice, probability=0.5, indeterminate=True), 5),
        "starved": aged(completed_study(created_by=alice, probability=0.1), 300),
        "mid_new": aged(completed_study(created_by=alice, probability=0.6), 30),
        "mid_old": aged(completed_study(created_by=alice, probability=0.6), 60),
    }


def names(queue, studies) -> list[str]:
    by_id = {str(s.id): name for name, s in queue.items()}
    return [by_id[str(s.id if hasattr(s, "id") else s)] for s in studies]


def escalated_names(queue, studies) -> set[str]:
    return {name for name, s in zip(names(queue, studies), studies, strict=True) if s.escalated}


def test_priority_order_with_a_frozen_clock(queue, carol):
    order = names(queue, worklist_for(user=carol, now=T0))
    # escalated (300 min > 240) > urgent > indeterminate > probability > longer wait on a tie
    assert order == ["starved", "urgent", "indeterminate", "high", "mid_old", "mid_new"]


def test_waiting_studies_escalate_as_the_clock_moves(queue, carol, settings):
    settings.AIRSPACE_ESCALATE_AFTER_MINUTES = 240
    later = T0 + timedelta(minutes=215)  # now everything older than T0-25min has waited > 240 min
    studies = list(worklist_for(user=carol, now=later))
    assert escalated_names(queue, studies) == {"starved", "mid_new", "mid_old"}
    # The escalated routine studies now come before the urgent one that has not waited as long.
    assert names(queue, studies) == ["mid_old", "mid_new", "starved", "urgent", "indeterminate", "high"]


def test_escalation_limit_is_configurable(queue, carol, settings):
    settings.AIRSPACE_ESCALATE_AFTER_MINUTES = 15
    assert escalated_names(queue, list(worklist_for(user=carol, now=T0))) == {
        "starved",
        "urgent",
        "mid_new",
        "mid_old",
    }


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("waiting", ["starved", "mid_old", "mid_new", "urgent", "high", "indeterminate"]),
        ("newest", ["indeterminate", "high", "urgent", "mid_new", "mid_old", "starved"]),
        ("probability", ["indeterminate", "high", "mid_old", "mid_new", "urgent", "starved"]),
    ],
)
def test_other_orderings(queue, carol, ordering, expected):
    assert (
        names(queue, worklist_for(user=carol, filters=WorklistFilters(ordering=ordering), now=T0)) == expected
    )


def api_ids(api, user, query: str = "") -> list[str]:
    api.force_authenticate(user)
    response = api.get(f"/api/v1/worklist/{query}")
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?priority=urgent", {"urgent"}),
        ("?ai_label=NORMAL", {"urgent", "starved"}),
        ("?indeterminate=true", {"indeterminate"}),
        ("?indeterminate=false&escalated=false&ai_label=PNEUMONIA", {"high", "mid_new", "mid_old"}),
        ("?escalated=true", {"starved"}),
        ("?min_age_minutes=45", {"starved", "mid_old"}),
        ("?max_age_minutes=15", {"high", "indeterminate"}),
    ],
)
def test_api_filters(api, queue, carol, query, expected):
    now = timezone.now()
    for name, minutes in {
        "high": 10,
        "urgent": 20,
        "indeterminate": 5,
        "starved": 300,
        "mid_new": 30,
        "mid_old": 60,
    }.items():
        aged(queue[name], minutes, now=now)
    assert set(names(queue, api_ids(api, carol, query))) == expected


def test_api_ordering_param_and_bad_values_are_400(api, queue, carol):
    assert names(queue, api_ids(api, carol, "?ordering=waiting"))[0] == "starved"
    for query, field in (
        ("?ordering=random", "ordering"),
        ("?claim=everyone", "claim"),
        ("?min_age_minutes=-5", "min_age_minutes"),
        ("?escalated=perhaps", "escalated"),
        ("?max_age_minutes=%C2%B2", "max_age_minutes"),  # "²".isdigit() is True in Python
    ):
        response = api.get(f"/api/v1/worklist/{query}")
        assert response.status_code == 400
        assert (
            response.json()["error"]["code"] == "invalid_filter"
            and field in response.json()["error"]["fields"]
        )


def test_counts_and_my_claims(api, queue, carol, dave):
    reading_claim_take(user=carol, study=queue["high"])
    api.force_authenticate(carol)
    body = api.get("/api/v1/worklist/?priority=urgent").json()
    assert body["count"] == 1  # the page is filtered, the badges are not
    assert body["counts"] == {
        "total": 6,
        "urgent": 1,
        "escalated": 1,
        "indeterminate": 1,
        "my_claims": 1,
        "claimed_by_others": 0,
    }
    api.force_authenticate(dave)
    summary = api.get("/api/v1/worklist/summary/").json()
    assert summary["counts"]["my_claims"] == 0 and summary["counts"]["claimed_by_others"] == 1
    assert [r["code"] for r in summary["review_reasons"]] == [c for c, _ in Review.Reason.choices]
    # An expired claim is nobody's: no longer counted, shown as free.
    Study.objects.filter(id=queue["high"].id).update(
        reading_claim_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert api.get("/api/v1/worklist/summary/").json()["counts"]["claimed_by_others"] == 0


def test_others_see_a_claimed_study_as_taken_until_it_expires(api, queue, carol, dave):
    reading_claim_take(user=carol, study=queue["high"])
    api.force_authenticate(dave)
    rows = {r["id"]: r for r in api.get("/api/v1/worklist/").json()["results"]}
    row = rows[str(queue["high"].id)]
    assert row["claimed_by"] == "carol" and row["claimed_by_me"] is False
    assert set(api_ids(api, dave, "?claim=taken")) == {str(queue["high"].id)}
    assert str(queue["high"].id) not in api_ids(api, dave, "?claim=free")
    assert set(api_ids(api, carol, "?claim=mine")) == {str(queue["high"].id)}
    Study.objects.filter(id=queue["high"].id).update(
        reading_claim_expires_at=timezone.now() - timedelta(seconds=1)
    )
    rows = {r["id"]: r for r in api.get("/api/v1/worklist/").json()["results"]}
    assert rows[str(queue["high"].id)]["claimed_by"] is None
    assert str(queue["high"].id) in api_ids(api, dave, "?claim=free")
    assert api.get(f"/api/v1/studies/{queue['high'].id}/?poll=1").json()["claimed_by"] is None


def test_worklist_counts_selector_excludes_reviewed_and_unfinished(alice, carol, queue):
    reviewed = completed_study(created_by=alice)
    Review.objects.create(
        study=reviewed,
        prediction=reviewed.predictions.get(),
        reviewer=carol,
        decision="agree",
        final_label="PNEUMONIA",
    )
    Study.objects.create(patient=reviewed.patient, created_by=alice, status=Study.Status.PROCESSING)
    assert worklist_counts(user=carol)["total"] == 6


def test_page_shows_badges_filters_and_holder(client, queue, carol, dave):
    reading_claim_take(user=carol, study=queue["urgent"])
    client.force_login(dave)
    response = client.get("/worklist/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "6 awaiting review" in html and "1 urgent" in html and "1 escalated" in html
    assert "0 claimed by me" in html and "taken by carol" in html
    filtered = client.get("/worklist/?priority=urgent&ordering=waiting").content.decode()
    assert filtered.count("taken by carol") == 1 and "1 shown" in filtered
    bad = client.get("/worklist/?ordering=sideways")
    assert bad.status_code == 200 and "ordering must be one of" in bad.content.decode()


def test_roles(api, client, alice, nobody, admin_user, queue):
    for user in (alice, nobody):
        api.force_authenticate(user)
        assert api.get("/api/v1/worklist/").status_code == 403
        assert api.get("/api/v1/worklist/summary/").status_code == 403
        client.force_login(user)
        assert client.get("/worklist/").status_code == 403
    assert len(api_ids(api, admin_user)) == 6  # admins oversee the worklist
    api.force_authenticate(None)
    assert api.get("/api/v1/worklist/summary/").status_code in (401, 403)


def test_admin_can_force_release_a_stuck_claim_from_the_page(client, queue, carol, admin_user):
    reading_claim_take(user=carol, study=queue["high"])
    client.force_login(admin_user)
    assert "Force release" in client.get("/worklist/").content.decode()
    response = client.post(f"/studies/{queue['high'].id}/release/")
    assert response.status_code == 302
    assert Study.objects.get(id=queue["high"].id).reading_claimed_by is None
    event = AuditEvent.objects.get(action="study.release")
    assert event.actor == admin_user and event.before["holder"] == "carol"


def test_worklist_api_query_count_does_not_grow_with_the_page(api, alice, carol):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        api.force_authenticate(carol)
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/v1/worklist/").status_code == 200
        return len(captured)

    for _ in range(3):
        completed_study(created_by=alice)
    queries()  # warm-up: first-request caches (e.g. content types) are not per-row work
    few = queries()
    for _ in range(12):
        completed_study(created_by=alice)
    assert queries() == few  # no per-row queries (N+1)
