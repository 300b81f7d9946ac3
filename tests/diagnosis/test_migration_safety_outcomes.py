"""Migration 0003_safety_outcomes_confidence on data written before it: the new constraints hold without
changing a clinical value (old max(p, 1 - p) confidences recomputed, legacy rows backfilled)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("diagnosis", "0002_audit_append_only")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_legacy_rows_satisfy_the_new_constraints_after_the_migration():
    old = _migrate(BEFORE)
    try:
        User = old.get_model("auth", "User")
        Patient, Study = old.get_model("diagnosis", "Patient"), old.get_model("diagnosis", "Study")
        Image, Prediction = old.get_model("diagnosis", "Image"), old.get_model("diagnosis", "Prediction")
        Review = old.get_model("diagnosis", "Review")
        user = User.objects.create(username="legacy")
        patient = Patient.objects.create(mrn="L-1", created_by=user)

        def predicted(p: float, threshold: float = 0.773):
            study = Study.objects.create(patient=patient, created_by=user, status="completed")
            image = Image.objects.create(study=study, sha256="0" * 64, size_bytes=1, width=1, height=1)
            label = "PNEUMONIA" if p >= threshold else "NORMAL"
            prediction = Prediction.objects.create(
                study=study,
                image=image,
                model_version="v0",
                probability=p,
                label=label,
                confidence=max(p, 1 - p),
                threshold=threshold,
            )
            return study, prediction

        normal_high_p = predicted(0.6)[1]  # the old definition stored 0.6 for a NORMAL
        kept_study, kept = predicted(0.9)
        kept_review = Review.objects.create(
            study=kept_study,
            prediction=kept,
            reviewer=user,
            decision="override",
            final_label="PNEUMONIA",
            reason="other",
        )  # an "override" that kept the AI label: accepted before #16
        amended_study, amended = predicted(0.2)
        first = Review.objects.create(
            study=amended_study,
            prediction=amended,
            reviewer=user,
            decision="agree",
            final_label="NORMAL",
            is_current=False,
        )
        second = Review.objects.create(
            study=amended_study,
            prediction=amended,
            reviewer=user,
            decision="override",
            final_label="PNEUMONIA",
            reason="missed_finding",
            version=2,
            previous=first,
        )
    finally:
        new = _migrate(_latest())
    Prediction, Review = new.get_model("diagnosis", "Prediction"), new.get_model("reading", "Review")
    assert Prediction.objects.get(id=normal_high_p.id).confidence == pytest.approx(0.4)
    assert Prediction.objects.get(id=kept.id).confidence == pytest.approx(0.9)
    legacy = Review.objects.get(id=kept_review.id)
    assert (legacy.ai_label, legacy.decision, legacy.final_label) == ("", "override", "PNEUMONIA")
    assert Review.objects.get(id=first.id).ai_label == "NORMAL"
    amendment = Review.objects.get(id=second.id)
    assert amendment.ai_label == "NORMAL" and amendment.amendment_reason.startswith("(not recorded")
