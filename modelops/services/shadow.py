"""Shadow mode: register a candidate, score each new study with it in the worker (stored apart, never shown
to readers, never sent out), and promote or roll back with one audited action each."""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Prediction
from mlcore import BundleError, RejectedImage
from mlcore.bundle import read_metadata
from modelops.models import OperatingProfile, ShadowPrediction, ShadowRun
from modelops.selectors import ShadowInProgress, active_bundle, models_dir
from modelops.services.profiles import profile_activate, profile_active
from modelops.services.served_bundle import (
    served_bundle_current,
    served_bundle_promote,
    served_bundle_restore,
)
from portal.errors import Conflict, DomainError

logger = logging.getLogger(__name__)
SHADOW_SCORE_TASK = "modelops.tasks.shadow_score_task"


def candidate_bundles() -> list[str]:
    """Bundle folders under models/ other than the served one (their metadata must parse)."""
    served = active_bundle().version
    names = []
    for folder in sorted(p for p in models_dir().iterdir() if (p / "metadata.json").is_file()):
        try:
            if read_metadata(folder).get("version") != served:
                names.append(folder.name)
        except BundleError:
            continue
    return names


def _audit(shadow: ShadowRun, action: str, user: Any, context: AuditContext, **after: Any) -> None:
    audit_record(
        actor=user,
        action=f"shadow.{action}",
        object_type="shadow_run",
        object_id=shadow.pk,
        after={"candidate": shadow.candidate_name, "served_version": shadow.served_version, **after},
        context=context,
    )


def shadow_start(
    *,
    user: Any,
    candidate_bundle: str = "",
    candidate_profile: OperatingProfile | None = None,
    context: AuditContext = SYSTEM,
) -> ShadowRun:
    """Start scoring new studies with a candidate bundle (a folder under models/) or an inactive profile of
    the served version; one shadow at a time. Audited."""
    bundle = active_bundle()
    if bool(candidate_bundle) == (candidate_profile is not None):
        raise DomainError("Choose one candidate: another bundle, or another profile.", code="candidate")
    if candidate_bundle and candidate_bundle not in candidate_bundles():
        raise DomainError(f"{candidate_bundle!r} is not another bundle under models/.", code="candidate")
    if candidate_profile is not None and (
        candidate_profile.model_version != bundle.version or candidate_profile.active
    ):
        raise DomainError(
            "A candidate profile must be an inactive profile of the served model.", code="candidate"
        )
    try:
        with transaction.atomic():
            shadow = ShadowRun.objects.create(
                served_version=bundle.version,
                candidate_bundle=candidate_bundle,
                candidate_profile=candidate_profile,
                baseline_profile=profile_active(bundle=bundle),
                baseline_bundle=served_bundle_current(),
                started_by=user,
            )
            _audit(shadow, "start", user, context)
    except IntegrityError as exc:
        raise Conflict(
            "A shadow run is already running: stop or promote it first.", code="shadow_running"
        ) from exc
    return shadow


def shadow_schedule(*, prediction: Prediction, shadow: ShadowInProgress | None) -> None:
    """After a served prediction is committed: have the worker score it with the candidate that was running
    when the study was taken (modelops.services.predictor.serving_now; shadow_score checks it still runs)."""
    if shadow is not None and prediction.model_version == shadow.served_version:
        current_app.send_task(SHADOW_SCORE_TASK, args=[shadow.id, str(prediction.pk)])


def _profile_result(prediction: Prediction, profile: OperatingProfile) -> dict[str, Any]:
    """A candidate profile of the served version: the same logit through its calibration and cut."""
    from mlcore.calibration import profile_probability

    p = float(profile_probability([prediction.logit], profile.temperature, profile.bias)[0])
    return {
        "probability": p,
        "label": "PNEUMONIA" if p >= profile.threshold else "NORMAL",
        "indeterminate": profile.indeterminate_low <= p <= profile.indeterminate_high,
        "logit": prediction.logit,
        "total_ms": prediction.total_ms,  # the same forward pass
    }


def _bundle_result(prediction: Prediction, predictor: Any) -> dict[str, Any]:
    """A candidate bundle: its own forward pass on the image the served model analysed."""
    with prediction.image.file.open("rb") as handle:
        data = handle.read()
    try:
        result = predictor.predict(data)
    except RejectedImage:
        return {"probability": None, "label": "", "indeterminate": False, "logit": None, "total_ms": 0.0}
    return {
        "probability": result.probability,
        "label": result.label,
        "indeterminate": result.indeterminate,
        "logit": result.logit,
        "total_ms": result.timings.get("total_ms", 0.0),
    }


def shadow_score(*, shadow_id: int, prediction_id: Any) -> ShadowPrediction | None:
    """Score one served prediction's study with the candidate and store it (idempotent)."""
    from modelops.services.predictor import candidate_predictor

    shadow = ShadowRun.objects.filter(pk=shadow_id, status=ShadowRun.Status.RUNNING).first()
    prediction = Prediction.objects.select_related("image").filter(pk=prediction_id).first()
    if shadow is None or prediction is None:
        return None
    if shadow.candidate_profile is not None:
        if prediction.logit is None:
            return None
        profile, outcome = shadow.candidate_profile, _profile_result(prediction, shadow.candidate_profile)
    else:
        predictor, profile = candidate_predictor(models_dir() / shadow.candidate_bundle)
        outcome = _bundle_result(prediction, predictor)
    try:
        with transaction.atomic():
            return ShadowPrediction.objects.create(
                shadow=shadow,
                prediction=prediction,
                study_id=prediction.study_id,
                model_version=profile.model_version,
                profile=profile,
                **outcome,
            )
    except IntegrityError:  # a redelivered message: already scored
        return None


def _end(shadow: ShadowRun, status: str) -> None:
    updated = ShadowRun.objects.filter(pk=shadow.pk, status=ShadowRun.Status.RUNNING).update(
        status=status, ended_at=timezone.now()
    )
    if not updated:
        raise Conflict("This shadow run is not running.", code="shadow_not_running")


@transaction.atomic
def shadow_promote(
    *, shadow: ShadowRun, user: Any, override_reason: str = "", context: AuditContext = SYSTEM
) -> ShadowRun:
    """Make the candidate the served one and end the shadow run; audited (with the profile or bundle change).

    A candidate bundle becomes the served bundle (modelops.ServedBundle): workers take it from their next
    study on, no restart; a candidate profile becomes its version's active profile.
    """
    _end(shadow, ShadowRun.Status.PROMOTED)
    if shadow.candidate_bundle:
        served = served_bundle_promote(
            folder=shadow.candidate_bundle, user=user, reason=override_reason, context=context
        )
        _audit(shadow, "promote", user, context, served_bundle=served.pk, model_version=served.model_version)
    else:
        assert shadow.candidate_profile is not None
        profile_activate(
            profile=shadow.candidate_profile, user=user, override_reason=override_reason, context=context
        )
        _audit(shadow, "promote", user, context, active_profile=shadow.candidate_profile_id)
    shadow.refresh_from_db()
    return shadow


@transaction.atomic
def shadow_rollback(*, shadow: ShadowRun, user: Any, context: AuditContext = SYSTEM) -> ShadowRun:
    """Undo a promotion: what was served when the shadow began (bundle, or profile) serves again; audited."""
    updated = ShadowRun.objects.filter(pk=shadow.pk, status=ShadowRun.Status.PROMOTED).update(
        status=ShadowRun.Status.ROLLED_BACK
    )
    if not updated:
        raise Conflict("Only a promoted shadow run can be rolled back.", code="shadow_not_promoted")
    if shadow.candidate_bundle:
        reason = "rollback of a promotion"
        served_bundle_restore(row=shadow.baseline_bundle, user=user, reason=reason, context=context)
        _audit(shadow, "rollback", user, context, served_bundle=shadow.baseline_bundle_id)
    else:
        baseline = shadow.baseline_profile
        if not OperatingProfile.objects.filter(pk=baseline.pk, active=True).exists():
            profile_activate(
                profile=baseline, user=user, override_reason="rollback of a promotion", context=context
            )
        _audit(shadow, "rollback", user, context, active_profile=baseline.pk)
    shadow.refresh_from_db()
    return shadow


@transaction.atomic
def shadow_stop(*, shadow: ShadowRun, user: Any, context: AuditContext = SYSTEM) -> ShadowRun:
    """End a shadow run without promoting it; its results stay for the record. Audited."""
    _end(shadow, ShadowRun.Status.STOPPED)
    _audit(shadow, "stop", user, context)
    shadow.refresh_from_db()
    return shadow
