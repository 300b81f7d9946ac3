"""pacs joins diagnosis and reading through diagnosis.hooks (connected in PacsConfig.ready)."""

from __future__ import annotations

from typing import Any

from diagnosis.hooks import deliveries_wanted, prediction_recorded, review_signed
from pacs.selectors import dicom_delivery_rows
from pacs.services.deliveries import deliveries_for_prediction, deliveries_for_review


def _on_prediction(sender: Any, *, prediction: Any, **kwargs: Any) -> None:
    deliveries_for_prediction(prediction=prediction)


def _on_review(sender: Any, *, review: Any, **kwargs: Any) -> None:
    deliveries_for_review(review=review)


def _deliveries(sender: Any, *, studies: list[Any], **kwargs: Any) -> dict[Any, list[dict[str, Any]]]:
    return dicom_delivery_rows(studies)


def connect() -> None:
    """Listen to the result events and answer the study's delivery state (idempotent: fixed uids)."""
    prediction_recorded.connect(_on_prediction, dispatch_uid="pacs.deliveries.prediction")
    review_signed.connect(_on_review, dispatch_uid="pacs.deliveries.review")
    deliveries_wanted.connect(_deliveries, dispatch_uid="pacs.deliveries.rows")
