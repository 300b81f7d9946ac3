"""Who may see what: the one place the scoping rule lives.

Rule: admins and radiologists see every study (they read for the whole hospital). A clinician sees the
studies of their department when they have one, otherwise the studies they uploaded themselves.
A user with no role sees nothing.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from diagnosis.models import Department, Patient, Study
from portal.roles import Role, roles_of


def department_of(user: Any) -> Department | None:
    """The user's department, if one is set up."""
    profile = getattr(user, "profile", None) if getattr(user, "pk", None) else None
    return profile.department if profile is not None else None


def patient_scope(user: Any) -> Q:
    """The scope a user's new patient records belong to: their department, else the user themselves."""
    department = department_of(user)
    if department is not None:
        return Q(department=department)
    return Q(department__isnull=True, created_by=user)


def visible_studies(user: Any) -> QuerySet[Study]:
    """Every study this user may see."""
    held = roles_of(user)
    if Role.ADMIN in held or Role.RADIOLOGIST in held:
        return Study.objects.all()
    if Role.CLINICIAN in held:
        department = department_of(user)
        if department is not None:
            return Study.objects.filter(Q(department=department) | Q(created_by=user))
        return Study.objects.filter(created_by=user)
    return Study.objects.none()


def visible_patients(user: Any) -> QuerySet[Patient]:
    """Patients this user may see: those with a visible study, or that the user's scope created."""
    held = roles_of(user)
    if Role.ADMIN in held or Role.RADIOLOGIST in held:
        return Patient.objects.all()
    if Role.CLINICIAN in held:
        department = department_of(user)
        owned = Q(created_by=user) | Q(studies__in=visible_studies(user))
        if department is not None:
            owned |= Q(department=department)
        return Patient.objects.filter(owned).distinct()
    return Patient.objects.none()
