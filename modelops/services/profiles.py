"""Operating profiles: the bundle's own as the default, site profiles created, activated and superseded.

A profile row is never edited: activating one moves the `active` flag from the old to the new, in one
transaction with its audit event. Past predictions keep the profile they were labelled with.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from mlcore.bundle import Bundle, BundleMetadata
from modelops.models import OperatingProfile
from portal.errors import Conflict, DomainError
from portal.frozen_queries import FrozenSelect, first_of


def profile_snapshot(profile: OperatingProfile) -> dict[str, Any]:
    """The fields an audit event and the API show for a profile."""
    return {
        "id": profile.pk,
        "model_version": profile.model_version,
        "temperature": profile.temperature,
        "bias": profile.bias,
        "threshold": profile.threshold,
        "indeterminate_band": [profile.indeterminate_low, profile.indeterminate_high],
        "target_sensitivity": profile.target_sensitivity,
        "source": profile.source,
    }


def _bundle_profile(metadata: BundleMetadata) -> OperatingProfile:
    low, high = metadata.indeterminate_band
    return OperatingProfile(
        model_version=metadata.version,
        temperature=metadata.temperature,
        bias=0.0,
        threshold=metadata.threshold,
        indeterminate_low=low,
        indeterminate_high=high,
        target_sensitivity=metadata.target_sensitivity,
        source=OperatingProfile.Source.BUNDLE,
        metrics={"from": "metadata.json", "metrics": metadata.metrics},
        active=True,
        activated_at=timezone.now(),
    )


def _save_audited(
    profile: OperatingProfile, *, actor: Any, reason: str = "", context: AuditContext = SYSTEM
) -> OperatingProfile:
    """Validate and insert a new profile with its profile.create event (caller's transaction)."""
    profile.full_clean()
    profile.save()
    after = {**profile_snapshot(profile), "active": profile.active, "supersedes": profile.supersedes_id}
    audit_record(
        actor=actor,
        action="profile.create",
        object_type="operating_profile",
        object_id=profile.pk,
        after=after,
        reason=reason,
        context=context,
    )
    return profile


# Compiled once per process: the worker asks before every prediction.
_ACTIVE = FrozenSelect(
    lambda version: first_of(OperatingProfile.objects.filter(model_version=version, active=True)), "<version>"
)


def profile_active(*, bundle: Bundle) -> OperatingProfile:
    """The active profile of the bundle's version, creating the bundle's own (audited) when it has none yet."""
    version = bundle.metadata.version
    found = _ACTIVE.first(version)
    if found is not None:
        return found
    try:
        with transaction.atomic():
            reason = "the bundle's own calibration, the default until a site profile is activated"
            return _save_audited(_bundle_profile(bundle.metadata), actor=None, reason=reason)
    except (IntegrityError, ValidationError):
        # Another process created it first (the constraint fails in full_clean or at INSERT): take theirs.
        found = OperatingProfile.objects.filter(model_version=version, active=True).first()
        if found is None:
            raise
        return found


@transaction.atomic
def profile_create(
    *,
    model_version: str,
    temperature: float,
    bias: float,
    threshold: float,
    band: tuple[float, float],
    target_sensitivity: float | None,
    source: str,
    metrics: dict[str, Any],
    user: Any = None,
    context: AuditContext = SYSTEM,
) -> OperatingProfile:
    """A new, inactive profile proposed to supersede the version's active one; audited."""
    current = OperatingProfile.objects.filter(model_version=model_version, active=True).first()
    profile = OperatingProfile(
        model_version=model_version,
        temperature=temperature,
        bias=bias,
        threshold=threshold,
        indeterminate_low=band[0],
        indeterminate_high=band[1],
        target_sensitivity=target_sensitivity,
        source=source,
        metrics=metrics,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        supersedes=current,
    )
    return _save_audited(profile, actor=user, context=context)


def activation_blocker(profile: OperatingProfile) -> str:
    """Why activating needs an override reason ("" when it does not): its cross-validated sensitivity is
    below its own target (the safety rail)."""
    target = profile.target_sensitivity
    after = (profile.metrics or {}).get("after") or {}
    sensitivity = (after.get("sensitivity") or {}).get("value")
    if target is None or sensitivity is None or sensitivity >= target:
        return ""
    return (
        f"Its cross-validated sensitivity {sensitivity:.3f} is below its target {target:.2f}: "
        "activating it needs an explicit override reason."
    )


@transaction.atomic
def profile_activate(
    *, profile: OperatingProfile, user: Any = None, override_reason: str = "", context: AuditContext = SYSTEM
) -> OperatingProfile:
    """Make the profile the active one of its version (the previous one stops being active); audited.

    New predictions use it from the next study on; predictions already made keep theirs.
    """
    profile = OperatingProfile.objects.select_for_update().get(pk=profile.pk)
    blocker = activation_blocker(profile)
    override_reason = override_reason.strip()
    if blocker and not override_reason:
        raise DomainError(blocker, code="override_reason_required", fields={"override_reason": [blocker]})
    if profile.active:
        raise Conflict("This profile is already the active one.", code="already_active")
    previous = (
        OperatingProfile.objects.select_for_update()
        .filter(model_version=profile.model_version, active=True)
        .first()
    )
    if previous is not None:
        OperatingProfile.objects.filter(pk=previous.pk).update(active=False)
    OperatingProfile.objects.filter(pk=profile.pk).update(active=True, activated_at=timezone.now())
    profile.refresh_from_db()
    audit_record(
        actor=user,
        action="profile.activate",
        object_type="operating_profile",
        object_id=profile.pk,
        before={"active_profile": previous.pk if previous else None},
        after={**profile_snapshot(profile), "active": True, "override": bool(blocker)},
        reason=override_reason,
        context=context,
    )
    return profile
