"""Running the model on a study: claim the row, predict, record the result or an explained final state."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, OuterRef, Q, Subquery
from django.utils import timezone

from audit.services.events import EventFields, audit_record, audit_record_if_changed
from diagnosis.hooks import prediction_recorded
from diagnosis.models import Image, Prediction, Study
from diagnosis.services.intended_use import prediction_flags
from diagnosis.services.storage import stored_files
from diagnosis.services.workers import live_workers
from integrations.services.hl7 import hl7_delivery_schedule
from mlcore import InvalidImage, RejectedImage
from portal.frozen_queries import (
    FrozenSelect,
    execute_without_flush_wait,
    insert_row,
    insert_statement,
    key_value,
    mark_inserted,
    written_out,
)

logger = logging.getLogger(__name__)
# A study whose processing was attempted this often without finishing is a poison input.
MAX_ATTEMPTS = 3


def _stale_before() -> Any:
    """A processing claim older than the hard time limit belongs to a dead worker."""
    return timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5)


# Written out (a first claim, the common case): building the ORM's UPDATE cost more than running it.
_CLAIM_SQL = (
    "UPDATE {table} SET {status} = %s, {processing_started_at} = %s, {processing_worker} = %s,"
    " {attempts} = {attempts} + 1 WHERE {id} = %s"
    " AND ({status} = %s OR ({status} = %s AND {processing_started_at} < %s))"
)


def _claim_queued_or_stale(*, study_id: Any, worker: str, now: Any) -> int:
    """Take a queued study, or one whose claim outlived the hard time limit: the rows updated (0 or 1)."""
    started = connection.ops.adapt_datetimefield_value(now)
    stale = connection.ops.adapt_datetimefield_value(_stale_before())
    processing, queued = Study.Status.PROCESSING, Study.Status.QUEUED
    params = [processing, started, worker, key_value(Study, study_id), queued, processing, stale]
    # A claim lost to a database crash leaves the study queued again: its commit need not wait for the disk.
    return execute_without_flush_wait(written_out(Study, _CLAIM_SQL), params)


def _latest_run(model_version: str) -> Subquery:
    """The study's latest run number on this model version (NULL before its first)."""
    runs = Prediction.objects.filter(study_id=OuterRef("study_id"), model_version=model_version)
    return Subquery(runs.order_by().values("study_id").annotate(latest=Max("run_number")).values("latest"))


# The claimed study's images with the study, its patient and its latest run number on the served version,
# in one query compiled once per process (the run number was a statement of its own, #17).
_CLAIMED_IMAGES = FrozenSelect(
    lambda study_id, model_version: (
        Image.objects.select_related("study__patient")
        .filter(study_id=study_id)
        .annotate(latest_run=_latest_run(model_version))
        .order_by("created_at")
    ),
    uuid.UUID(int=1),
    "<model version>",
)


def study_processing_claim(
    *, study_id: Any, retake: bool = False, worker: str = "", model_version: str = ""
) -> tuple[Study, list[Image]] | None:
    """Take the processing claim for `worker` with a conditional UPDATE: (study, its images in upload order), or
    None when another worker has it or it is done.

    `retake` is for a retry of a task that may itself hold the claim (e.g. the database dropped mid-run)
    and for a message redelivered after its worker process died: it takes over a claim of this same
    worker, of no recorded worker, or of a worker that stopped heartbeating, never a live worker's. Each
    claim counts an attempt, so an image that kills its worker process is failed after MAX_ATTEMPTS.
    `model_version` (the served one) has the study's latest run on it read with the images.
    """
    now = timezone.now()
    if retake:
        held = Q(status=Study.Status.PROCESSING)
        orphaned = (
            Q(processing_worker=worker) | Q(processing_worker="") | ~Q(processing_worker__in=live_workers())
        )
        claimed = Study.objects.filter(Q(status=Study.Status.QUEUED) | held & orphaned, id=study_id).update(
            status=Study.Status.PROCESSING,
            processing_started_at=now,
            processing_worker=worker,
            attempts=F("attempts") + 1,
        )
    else:
        claimed = _claim_queued_or_stale(study_id=study_id, worker=worker, now=now)
    if not claimed:
        return None
    # One query reads the claimed study with its images (compiled once per process).
    images = _CLAIMED_IMAGES.fetch(study_id, model_version)
    if not images:
        return Study.objects.get(id=study_id), []
    study = images[0].study
    study.latest_run = (model_version, images[0].latest_run)  # what _next_run_number would ask
    return study, images


def analysis_order(images: list[Image]) -> list[Image]:
    """The order in which a study's images are tried: upload order, DICOM-marked lateral views last."""
    return sorted(images, key=lambda image: "lateral_view" in (image.meta or {}).get("flags", []))


@transaction.atomic
def study_finish_unprocessed(*, study: Study, status: str, code: str, reason: str) -> bool:
    """Move a claimed study to failed or rejected with its reason; audited."""
    updated = Study.objects.filter(
        id=study.id, status=Study.Status.PROCESSING, processing_started_at=study.processing_started_at
    ).update(status=status, error_code=code, status_reason=reason, completed_at=timezone.now())
    if updated:
        audit_record(
            actor=None,
            action=f"study.{status}",
            object_type="study",
            object_id=study.id,
            before={"status": Study.Status.PROCESSING},
            after={"status": status, "code": code},
            reason=reason,
        )
    return bool(updated)


# Written out: building the ORM's aggregate cost 4x running it (0.42 against 0.10 ms of worker CPU).
_LATEST_RUN_SQL = "SELECT MAX({run_number}) FROM {table} WHERE {study} = %s AND {model_version} = %s"


def _next_run_number(study: Study, model_version: str) -> int:
    """One more than the study's latest run on this model version (1 for its first): as the claim read it,
    or asked now."""
    read = getattr(study, "latest_run", None)
    if read is not None and read[0] == model_version:
        return (read[1] or 0) + 1
    with connection.cursor() as cursor:
        cursor.execute(written_out(Prediction, _LATEST_RUN_SQL), [key_value(Study, study.pk), model_version])
        (latest,) = cursor.fetchone()
    return (latest or 0) + 1


# Written out like the claim: the study completes only if our claim still holds.
_COMPLETE_SQL = (
    "UPDATE {table} SET {status} = %s, {error_code} = '', {status_reason} = '', {completed_at} = %s,"
    " {rerun_requested_by} = NULL WHERE {id} = %s AND {status} = %s AND {processing_started_at} = %s"
)


def _complete_params(study: Study) -> list[Any]:
    completed = connection.ops.adapt_datetimefield_value(timezone.now())
    started = connection.ops.adapt_datetimefield_value(study.processing_started_at)
    return [Study.Status.COMPLETED, completed, key_value(Study, study.pk), Study.Status.PROCESSING, started]


def _complete_if_still_claimed(study: Study) -> bool:
    """Move our claimed study to completed (clearing any earlier failure and the rerun request)."""
    with connection.cursor() as cursor:
        cursor.execute(written_out(Study, _COMPLETE_SQL), _complete_params(study))
        return cursor.rowcount == 1


def _recorded_if_still_claimed(study: Study, prediction: Prediction, event: EventFields) -> bool:
    """Complete our claimed study, insert its prediction and append the audit `event`, all only if our claim
    still holds; whether it did. On PostgreSQL the completion is a CTE whose row the INSERT needs, sent
    with the audit chain's lock and head read: one round trip where there were three (#17)."""
    if connection.vendor != "postgresql":
        if not _complete_if_still_claimed(study):
            return False
        insert_row(prediction)
        audit_record(**event)
        return True
    insert_sql, insert_params = insert_statement(prediction, source="completed")
    statement = f"WITH completed AS ({written_out(Study, _COMPLETE_SQL)} RETURNING 1) {insert_sql}"
    if audit_record_if_changed([(statement, _complete_params(study) + insert_params)], **event) is None:
        return False
    mark_inserted(prediction)
    return True


def prediction_record(
    *, study: Study, image: Image, result: Any, operating_profile: Any = None
) -> Prediction | None:
    """Store the prediction (with the operating profile that labelled it) and heatmap and complete the
    study, only if our claim still holds.

    The heatmap file goes if the row, the audit event or the commit fails (stored_files).
    """
    prediction = Prediction(
        study=study,
        image=image,
        model_version=result.model_version,
        run_number=_next_run_number(study, result.model_version),
        probability=result.probability,
        label=result.label,
        confidence=result.confidence,
        threshold=result.threshold,
        indeterminate=result.indeterminate,
        operating_profile=operating_profile,
        logit=getattr(result, "logit", None),
        input_stats=getattr(result, "input_stats", None) or {},
        gate_score=result.gate_score,
        flags=prediction_flags(study=study, image=image, result_flags=result.flags),
        requested_by=study.rerun_requested_by,
        decode_ms=result.timings.get("decode_ms", 0),
        model_ms=result.timings.get("model_ms", 0),
        heatmap_ms=result.timings.get("heatmap_ms", 0),
        total_ms=result.timings.get("total_ms", 0),
        turnaround_seconds=(timezone.now() - study.created_at).total_seconds(),
    )
    # Field validation here; foreign keys, uniqueness and the check constraints are enforced by the
    # database on insert (Django would re-check each with its own SELECT, measured with bench/pipeline.py).
    fk_fields = ["study", "image", "requested_by", "operating_profile"]
    prediction.full_clean(exclude=["heatmap", *fk_fields], validate_unique=False, validate_constraints=False)
    event: EventFields = {
        "actor": None,
        "action": "prediction.create",
        "object_type": "prediction",
        "object_id": prediction.id,
        "after": {
            "study": str(study.id),
            "probability": prediction.probability,
            "label": prediction.label,
            "model_version": prediction.model_version,
            "indeterminate": prediction.indeterminate,
            "run_number": prediction.run_number,
            "operating_profile": prediction.operating_profile_id,
        },
    }
    with stored_files() as files, transaction.atomic():
        files.save(prediction.heatmap, "heatmap.png", result.heatmap_png)  # the row names the file
        # A failure aborts the whole transaction (no savepoint needed) and stored_files removes the file.
        if not _recorded_if_still_claimed(study, prediction, event):
            files.delete_all()
            return None  # the claim was lost (stale and taken over): the other worker records it
        hl7_delivery_schedule(
            study=study, event="preliminary", source_id=prediction.id
        )  # no-op unless configured
        # The served prediction only: a shadow run is never sent out (pacs listens: results to the PACS).
        prediction_recorded.send(sender=Prediction, prediction=prediction)
    return prediction


def study_fail_timed_out(*, study_id: Any, hard: bool) -> bool:
    """The task hit its time limit: fail the study with a clear reason (it is not retried)."""
    study = Study.objects.filter(id=study_id, status=Study.Status.PROCESSING).first()
    if study is None:
        return False
    limit = settings.CELERY_TASK_TIME_LIMIT if hard else settings.CELERY_TASK_SOFT_TIME_LIMIT
    return study_finish_unprocessed(
        study=study,
        status=Study.Status.FAILED,
        code="timeout",
        reason=f"The analysis took longer than its {limit} s time limit and was stopped.",
    )


def _predict(study: Study, images: list[Image], predictor: Any) -> tuple[Image, Any] | None:
    """Run the model on the study's first image the gate accepts (frontal views first), so a lateral or
    a stray image in a multi-view study does not reject it; None once the study is finished with a reason.
    """
    rejections: list[RejectedImage] = []
    for image in analysis_order(images):
        try:
            with image.file.open("rb") as handle:
                return image, predictor.predict(handle.read())
        except RejectedImage as exc:
            rejections.append(exc)
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:  # noqa: BLE001 - a poison image fails its own study, never the worker
            _finish_failed(study, exc)
            return None
    if not rejections:
        _finish_failed(study, FileNotFoundError("study has no image row"))
        return None
    first = rejections[0]
    reason = str(first)
    if len(rejections) > 1:
        reason = f"None of the study's {len(rejections)} images was accepted. {reason}"
    study_finish_unprocessed(study=study, status=Study.Status.REJECTED, code=first.code, reason=reason)
    return None


def _finish_failed(study: Study, exc: Exception) -> None:
    """Fail the study with the clearest reason for what went wrong reading or analysing its image."""
    failed = Study.Status.FAILED
    if isinstance(exc, InvalidImage):
        study_finish_unprocessed(study=study, status=failed, code=exc.code, reason=str(exc))
    elif isinstance(exc, FileNotFoundError):
        logger.error("Study %s has no readable image: %s", study.id, exc)
        reason = "The stored image is missing, so the study could not be analysed."
        study_finish_unprocessed(study=study, status=failed, code="image_missing", reason=reason)
    else:
        logger.error("Decoding or analysis crashed on study %s", study.id, exc_info=exc)
        reason = f"The image could not be analysed ({exc.__class__.__name__}); please re-export it."
        study_finish_unprocessed(study=study, status=failed, code="analysis_error", reason=reason)


def prediction_run(
    *,
    study_id: Any,
    predictor: Any,
    retake: bool = False,
    worker: str = "",
    operating_profile: Any = None,
) -> Prediction | None:
    """Claim the study for `worker`, run the model on its image (see _predict), and record the outcome.
    Idempotent."""
    claim = study_processing_claim(
        study_id=study_id, retake=retake, worker=worker, model_version=predictor.version
    )
    if claim is None:
        return None
    study, images = claim
    if study.attempts > MAX_ATTEMPTS:
        study_finish_unprocessed(
            study=study,
            status=Study.Status.FAILED,
            code="processing_crashed",
            reason="Processing stopped repeatedly on this image; it was not analysed.",
        )
        return None
    if settings.AIRSPACE_BEFORE_PREDICT_HOOK:  # None outside portal.settings.test
        settings.AIRSPACE_BEFORE_PREDICT_HOOK()
    outcome = _predict(study, images, predictor)
    if outcome is None:
        return None
    image, result = outcome
    return prediction_record(study=study, image=image, result=result, operating_profile=operating_profile)
