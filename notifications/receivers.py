"""notifications joins diagnosis and reading through diagnosis.hooks (connected in NotificationsConfig.ready).

Each receiver only publishes a task after commit (notifications.services.events): no query in the request
or in the prediction path, and nothing at all for a routine negative.
"""

from __future__ import annotations

from typing import Any

from diagnosis.hooks import prediction_recorded, review_signed
from notifications.services.events import notify_read_signed, notify_study_arrived


def _on_prediction(sender: Any, *, prediction: Any, **kwargs: Any) -> None:
    notify_study_arrived(study=prediction.study, prediction=prediction)


def _on_review(sender: Any, *, review: Any, **kwargs: Any) -> None:
    notify_read_signed(review=review)


def connect() -> None:
    """Listen to results: radiologists hear of studies that need them, clinicians of their reads."""
    prediction_recorded.connect(_on_prediction, dispatch_uid="notifications.prediction")
    review_signed.connect(_on_review, dispatch_uid="notifications.review")
