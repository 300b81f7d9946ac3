"""Issue #16: the study JSON leads with the radiologist's final read (null until one is signed)."""

from __future__ import annotations

import pytest

from diagnosis.selectors import study_get
from reading.selectors import final_read_for
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db


def test_final_read_is_null_until_signed_then_follows_amendments(api, alice, carol, dave):
    study = completed_study(created_by=alice, probability=0.9)
    api.force_authenticate(alice)
    assert api.get(f"/api/v1/studies/{study.id}/").json()["final_read"] is None
    review_submit(user=carol, study=study, decision="override", final_label="NORMAL", reason="false_alarm")
    body = api.get(f"/api/v1/studies/{study.id}/").json()
    read = body["final_read"]
    assert set(read) == {"label", "decision", "reason", "reader", "signed_at", "version"}
    assert (read["label"], read["decision"], read["reason"], read["reader"], read["version"]) == (
        "NORMAL",
        "override",
        "false_alarm",
        "carol",
        1,
    )
    assert body["prediction"]["label"] == "PNEUMONIA"  # the AI result is still there, as it was
    review_submit(user=dave, study=study, decision="agree", amendment_reason="second read")
    read = api.get(f"/api/v1/studies/{study.id}/").json()["final_read"]
    assert (read["label"], read["decision"], read["reason"], read["reader"], read["version"]) == (
        "PNEUMONIA",
        "agree",
        "",
        "dave",
        2,
    )


def test_list_items_carry_the_final_read_without_a_query_per_study(
    api, alice, carol, django_assert_max_num_queries
):
    studies = [completed_study(created_by=alice, probability=0.9) for _ in range(6)]
    for study in studies[:3]:
        review_submit(
            user=carol, study=study, decision="override", final_label="NON_DIAGNOSTIC", reason="wrong_input"
        )
    api.force_authenticate(alice)
    api.get("/api/v1/studies/")  # warm caches (session, content types) before counting
    with django_assert_max_num_queries(12) as few:
        results = api.get("/api/v1/studies/").json()["results"]
    assert len(results) == 6
    reads = {row["id"]: row["final_read"] for row in results}
    for study in studies[:3]:
        assert reads[str(study.id)]["label"] == "NON_DIAGNOSTIC"
        assert reads[str(study.id)]["reason"] == "wrong_input"
    assert all(reads[str(study.id)] is None for study in studies[3:])
    # Twice the studies, the same number of queries: the reads come from the prefetch.
    for _ in range(6):
        completed_study(created_by=alice, probability=0.2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get("/api/v1/studies/").json()["results"]) == 12


def test_final_read_selector_for_pages(alice, carol):
    study = completed_study(created_by=alice, probability=0.2)
    assert final_read_for(study_get(user=alice, study_id=study.id)) is None
    review_submit(user=carol, study=study, decision="override", final_label="NON_DIAGNOSTIC", reason="other")
    read = final_read_for(study_get(user=alice, study_id=study.id))
    assert read is not None and read.label_display == "Non-diagnostic" and read.reason_display == "Other"
    assert read.reader == "carol" and read.as_dict()["version"] == 1
