"""Which bundle is served, as data: promoting a bundle activates a ServedBundle row, a rollback re-activates
the row served before (or none: the deployment default). Workers read it per study, so no restart."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from mlcore.bundle import load_bundle
from modelops.models import ServedBundle
from modelops.selectors import active_bundle, models_dir
from portal.errors import DomainError


def served_bundle_current() -> ServedBundle | None:
    """The active promotion row; None while the deployment default is served."""
    return ServedBundle.objects.filter(active=True).first()


def _switch(*, to: ServedBundle | None, user: Any, reason: str, context: AuditContext) -> None:
    """Deactivate the active row and activate `to` (None: back to the default), audited as bundle.serve."""
    before = active_bundle().version
    previous = ServedBundle.objects.select_for_update().filter(active=True).first()
    if previous is not None:
        ServedBundle.objects.filter(pk=previous.pk).update(active=False)
    if to is not None:
        ServedBundle.objects.filter(pk=to.pk).update(active=True, activated_at=timezone.now())
    audit_record(
        actor=user,
        action="bundle.serve",
        object_type="served_bundle",
        object_id=to.pk if to is not None else "default",
        before={"model_version": before, "served_bundle": previous.pk if previous else None},
        after={"model_version": active_bundle().version, "served_bundle": to.pk if to else None},
        reason=reason,
        context=context,
    )


@transaction.atomic
def served_bundle_promote(
    *, folder: str, user: Any, reason: str = "", context: AuditContext = SYSTEM
) -> ServedBundle:
    """Serve the bundle in `folder` (under AIRSPACE_MODELS_DIR) from the next study on; audited.

    The weights and serving artifacts are checked against their sha256 first, so no worker is pointed at a
    bundle it cannot load.
    """
    path = models_dir() / folder
    if not folder or "/" in folder or not (path / "metadata.json").is_file():
        raise DomainError(f"{folder!r} is not a bundle folder under models/.", code="bundle")
    bundle = load_bundle(path)
    row = ServedBundle(
        bundle=folder,
        model_version=bundle.version,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    row.full_clean()
    row.save()
    _switch(to=row, user=user, reason=reason, context=context)
    row.refresh_from_db()
    return row


@transaction.atomic
def served_bundle_restore(
    *, row: ServedBundle | None, user: Any, reason: str = "", context: AuditContext = SYSTEM
) -> None:
    """Serve `row` again (None: the deployment default) from the next study on; audited."""
    _switch(to=row, user=user, reason=reason, context=context)
