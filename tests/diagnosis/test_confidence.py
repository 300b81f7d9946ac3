"""Issue #16: confidence is the calibrated probability of the label shown, one definition everywhere."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from mlcore.calibration import label_confidence
from tests.diagnosis.factories import PredictionFactory, StudyFactory

THRESHOLD = 0.773  # the shipped operating point: above 0.5, so NORMAL can carry p > 0.5


def test_label_confidence_is_p_for_pneumonia_and_one_minus_p_for_normal():
    assert label_confidence(0.9, "PNEUMONIA") == 0.9
    assert label_confidence(0.594, "NORMAL") == pytest.approx(0.406)  # not max(p, 1 - p) = 0.594
    assert label_confidence(0.1, "NORMAL") == pytest.approx(0.9)
    with pytest.raises(ValueError):
        label_confidence(0.5, "NON_DIAGNOSTIC")


@pytest.mark.django_db
def test_a_normal_below_a_high_operating_point_stores_its_low_confidence(alice):
    """The old `confidence >= 0.5` constraint refused this legitimate result."""
    prediction = PredictionFactory(
        study=StudyFactory(created_by=alice), probability=0.594, threshold=THRESHOLD, indeterminate=True
    )
    prediction.refresh_from_db()
    assert prediction.label == "NORMAL" and prediction.confidence == pytest.approx(0.406)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("probability", "label", "confidence"),
    [
        (0.594, "NORMAL", 0.594),  # max(p, 1 - p): the probability of the other label
        (0.9, "PNEUMONIA", 0.1),
        (0.9, "NORMAL", 0.1),  # label contradicts the operating point
        (0.5, "PNEUMONIA", 0.5),  # below the threshold
    ],
)
def test_database_refuses_a_confidence_or_label_inconsistent_with_p(alice, probability, label, confidence):
    study = StudyFactory(created_by=alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        PredictionFactory(
            study=study, probability=probability, threshold=THRESHOLD, label=label, confidence=confidence
        )


@pytest.mark.django_db
def test_api_confidence_is_the_probability_of_the_label_shown(api, alice):
    study = StudyFactory(created_by=alice, status="completed")
    PredictionFactory(study=study, probability=0.6, threshold=THRESHOLD)
    api.force_authenticate(alice)
    prediction = api.get(f"/api/v1/studies/{study.id}/").json()["prediction"]
    assert prediction["label"] == "NORMAL" and prediction["confidence"] == pytest.approx(0.4)
