"""Issue #16: the outcomes a radiologist can sign (NORMAL, PNEUMONIA, NON_DIAGNOSTIC with a reason), an
override that must change the AI's label, amendments that need a reason, and non-diagnostic reads kept
out of the accuracy figures and the training export."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from modelops.services.monitoring import monitoring_report
from portal.errors import DomainError
from reading.models import Review
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db


def review(api, user, study, **data):
    api.force_authenticate(user)
    return api.post(f"/api/v1/studies/{study.id}/review/", data, format="json")


@pytest.mark.parametrize("reason", ["wrong_input", "image_quality", "other"])
def test_non_diagnostic_is_signed_with_each_of_its_reasons(api, alice, carol, reason):
    study = completed_study(created_by=alice, probability=0.9)
    signed = review(api, carol, study, decision="override", final_label="NON_DIAGNOSTIC", reason=reason)
    assert signed.status_code == 201
    assert (signed.json()["final_label"], signed.json()["reason"]) == ("NON_DIAGNOSTIC", reason)
    assert signed.json()["ai_label"] == "PNEUMONIA"
    event = AuditEvent.objects.get(action="review.sign")
    assert event.after["final_label"] == "NON_DIAGNOSTIC" and event.after["reason"] == reason


@pytest.mark.parametrize("reason", ["", "missed_finding", "false_alarm"])
def test_non_diagnostic_without_one_of_its_reasons_is_400(api, alice, carol, reason):
    study = completed_study(created_by=alice, probability=0.9)
    refused = review(api, carol, study, decision="override", final_label="NON_DIAGNOSTIC", reason=reason)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_review"
    assert error["fields"]["reason"] == [
        "An override needs a reason, one of: wrong_input, image_quality, other."
    ]
    assert not Review.objects.exists() and not AuditEvent.objects.filter(action="review.sign").exists()


def test_wrong_input_never_accompanies_normal_or_pneumonia(api, alice, carol):
    study = completed_study(created_by=alice, probability=0.9)
    refused = review(api, carol, study, decision="override", final_label="NORMAL", reason="wrong_input")
    assert refused.status_code == 400 and "reason" in refused.json()["error"]["fields"]
    assert not Review.objects.exists()


@pytest.mark.parametrize(("probability", "label"), [(0.9, "PNEUMONIA"), (0.1, "NORMAL")])
def test_override_keeping_the_ai_label_is_400(api, alice, carol, probability, label):
    study = completed_study(created_by=alice, probability=probability)
    refused = review(api, carol, study, decision="override", final_label=label, reason="other")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "override_same_label" and "final_label" in error["fields"]
    assert not Review.objects.exists()


def test_database_refuses_an_override_that_keeps_the_ai_label(alice, carol):
    study = completed_study(created_by=alice, probability=0.9)
    prediction = study.predictions.get()
    row = {"study": study, "prediction": prediction, "reviewer": carol, "ai_label": "PNEUMONIA"}
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(**row, decision="override", final_label="PNEUMONIA", reason="other")
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(**row, decision="agree", final_label="NORMAL")
    Review.objects.create(**row, decision="override", final_label="NORMAL", reason="false_alarm")


def test_database_refuses_non_diagnostic_without_its_reason(alice, carol):
    study = completed_study(created_by=alice, probability=0.9)
    prediction = study.predictions.get()
    row = {"study": study, "prediction": prediction, "reviewer": carol, "ai_label": "PNEUMONIA"}
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(**row, decision="override", final_label="NON_DIAGNOSTIC", reason="false_alarm")
    Review.objects.create(**row, decision="override", final_label="NON_DIAGNOSTIC", reason="image_quality")


def test_amendment_needs_a_reason_in_the_service_and_the_database(api, alice, carol, dave):
    study = completed_study(created_by=alice, probability=0.9)
    assert review(api, carol, study, decision="agree").status_code == 201
    refused = review(api, dave, study, decision="override", final_label="NORMAL", reason="false_alarm")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "amendment_needs_reason"
    assert "amendment_reason" in refused.json()["error"]["fields"]
    assert Review.objects.count() == 1 and Review.objects.get().is_current
    amended = review(
        api,
        dave,
        study,
        decision="override",
        final_label="NORMAL",
        reason="false_alarm",
        amendment_reason="  artefact on the lateral  ",
    )
    assert amended.status_code == 201 and amended.json()["amendment_reason"] == "artefact on the lateral"
    assert AuditEvent.objects.get(action="review.amend").reason == "artefact on the lateral"
    first = Review.objects.get(version=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(
            study=study,
            prediction=first.prediction,
            reviewer=carol,
            version=3,
            previous=Review.objects.get(version=2),
            is_current=False,
            decision="agree",
            final_label="PNEUMONIA",
            ai_label="PNEUMONIA",
        )


def test_first_read_ignores_an_amendment_reason(alice, carol):
    study = completed_study(created_by=alice, probability=0.9)
    signed = review_submit(user=carol, study=study, decision="agree", amendment_reason="not an amendment")
    assert signed.amendment_reason == ""


def test_service_refuses_an_unknown_label(alice, carol):
    study = completed_study(created_by=alice, probability=0.9)
    with pytest.raises(DomainError) as refused:
        review_submit(user=carol, study=study, decision="override", final_label="MAYBE", reason="other")
    assert "final_label" in refused.value.fields


def test_monitoring_excludes_non_diagnostic_reads_and_counts_them_apart(alice, carol, tmp_path):
    """A wrist radiograph read as "not a chest X-ray" is no false positive of the AI."""
    wrist = completed_study(created_by=alice, probability=0.95)
    agreed = completed_study(created_by=alice, probability=0.9)
    blurred = completed_study(created_by=alice, probability=0.2)
    review_submit(
        user=carol, study=wrist, decision="override", final_label="NON_DIAGNOSTIC", reason="wrong_input"
    )
    review_submit(user=carol, study=agreed, decision="agree")
    review_submit(
        user=carol, study=blurred, decision="override", final_label="NON_DIAGNOSTIC", reason="image_quality"
    )
    (model,) = monitoring_report(models_dir=tmp_path)["models"]
    assert model["confusion"] == {"tp": 1, "fp": 0, "fn": 0, "tn": 0}
    assert model["specificity"]["n"] == 0 and model["sensitivity"]["value"] == 1.0
    assert model["volume"]["reviewed"] == 1 and model["volume"]["non_diagnostic"] == 2
    assert model["non_diagnostic"] == {
        "total": 2,
        "by_reason": {"wrong_input": 1, "image_quality": 1, "other": 0},
    }
    assert model["weekly"][0]["reviewed"] == 1


def test_monitoring_api_carries_the_non_diagnostic_count(api, alice, carol, admin_user):
    study = completed_study(created_by=alice, probability=0.95)
    review_submit(user=carol, study=study, decision="override", final_label="NON_DIAGNOSTIC", reason="other")
    api.force_authenticate(admin_user)
    (model,) = api.get("/api/v1/monitoring/").json()["models"]
    assert model["non_diagnostic"]["total"] == 1 and model["confusion"]["fp"] == 0


def test_export_reviewed_leaves_out_non_diagnostic_reads(alice, carol, tmp_path):
    wrist = completed_study(created_by=alice, probability=0.95)
    chest = completed_study(created_by=alice, probability=0.1)
    review_submit(
        user=carol, study=wrist, decision="override", final_label="NON_DIAGNOSTIC", reason="wrong_input"
    )
    review_submit(user=carol, study=chest, decision="agree")
    out = io.StringIO()
    call_command("export_reviewed", "--out", str(tmp_path / "set"), stdout=out)
    assert out.getvalue().startswith("Exported 1 reviewed studies")
    with (tmp_path / "set" / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["final_label"] for row in rows] == ["NORMAL"]
