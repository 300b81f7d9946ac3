"""Staff scope: which department a user works in (it decides which studies a clinician sees).

Each change is audited here, in the transaction that makes it; the Django admin calls these services too.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Department, StaffProfile


def _name(department: Department | None) -> str | None:
    return department.name if department is not None else None


@transaction.atomic
def staff_department_set(
    *, user: Any, department: Department | None, actor: Any = None, context: AuditContext = SYSTEM
) -> StaffProfile:
    """Put `user` in `department` (None: no department); `user.department_changed` when it changes."""
    # Lock the profile row only: the department is a nullable join, which PostgreSQL cannot lock.
    profile = (
        StaffProfile.objects.select_for_update(of=("self",))
        .select_related("department")
        .filter(user=user)
        .first()
    )
    created = profile is None
    before = None if created else _name(profile.department)
    if created:
        profile = StaffProfile(user=user)
    profile.department = department
    profile.full_clean()
    profile.save()
    if created or before != _name(department):
        audit_record(
            actor=actor,
            action="user.department_changed",
            object_type="user",
            object_id=user.pk,
            before={"department": before},
            after={"department": _name(department)},
            context=context,
        )
    return profile


@transaction.atomic
def staff_profile_delete(*, profile: StaffProfile, actor: Any = None, context: AuditContext = SYSTEM) -> None:
    """Remove a staff profile, and with it the user's department scope."""
    audit_record(
        actor=actor,
        action="user.department_changed",
        object_type="user",
        object_id=profile.user_id,
        before={"department": _name(profile.department)},
        after={"department": None},
        reason="staff profile deleted",
        context=context,
    )
    profile.delete()


@transaction.atomic
def department_delete(*, department: Department, actor: Any = None, context: AuditContext = SYSTEM) -> None:
    """Delete a department no record refers to any more (PROTECT refuses otherwise)."""
    audit_record(
        actor=actor,
        action="department.delete",
        object_type="department",
        object_id=department.pk,
        before={"name": department.name},
        context=context,
    )
    department.delete()
