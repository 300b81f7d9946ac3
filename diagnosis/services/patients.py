"""Patient records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Patient
from diagnosis.services.patient_checks import patient_differences
from diagnosis.services.scope import department_of, patient_scope, visible_patients
from portal.errors import Conflict
from portal.frozen_queries import FrozenSelect, first_of

# The own-scope lookup of every upload, compiled once per process for each scope shape (#17 load):
# Patient.objects.filter(patient_scope(user), mrn=mrn).first(), without building it each time.
_OWN_IN_DEPARTMENT = FrozenSelect(
    lambda department_id, mrn: first_of(Patient.objects.filter(department_id=department_id, mrn=mrn)),
    -7001,
    "<mrn>",
)
_OWN_WITHOUT_DEPARTMENT = FrozenSelect(
    lambda user_id, mrn: first_of(
        Patient.objects.filter(department__isnull=True, created_by_id=user_id, mrn=mrn)
    ),
    -7002,
    "<mrn>",
)


def _own_patient(user: Any, mrn: str) -> Patient | None:
    """The record with this MRN in the user's own scope (patient_scope), if any."""
    department = department_of(user)
    if department is not None:
        return _OWN_IN_DEPARTMENT.first(department.pk, mrn)
    if getattr(user, "pk", None) is None:
        return Patient.objects.filter(patient_scope(user), mrn=mrn).first()
    return _OWN_WITHOUT_DEPARTMENT.first(user.pk, mrn)


def patient_find(*, user: Any, mrn: str) -> Patient | None:
    """The patient with this MRN among those the user may see, their own scope's record first."""
    own = _own_patient(user, mrn)
    return own or visible_patients(user).filter(mrn=mrn).order_by("created_at").first()


@dataclass(frozen=True)
class PatientResolution:
    """The patient an upload is filed under, whether it was created, and entered details that differ."""

    patient: Patient
    created: bool
    differences: tuple[str, ...] = ()


def _conflict(mrn: str, differences: list[str]) -> Conflict:
    """409 naming which entered fields differ, never the values on file (#16; the #17 scoping still holds:
    only records the caller may see are compared)."""
    words = " and ".join({"name": "name", "birth_date": "birth date"}[d] for d in differences)
    message = (
        f"The patient on file for MRN {mrn} has a different {words}. Check the patient; to file under the "
        "existing record anyway, confirm (confirm_patient=true). The record on file is not changed."
    )
    field = {"name": "name", "birth_date": "birth_date"}
    return Conflict(
        message,
        code="patient_conflict",
        fields={field[d]: ["Differs from the patient on file for this MRN."] for d in differences},
    )


def patient_resolve_within(
    *,
    user: Any,
    mrn: str,
    name: str = "",
    birth_date: dt.date | None = None,
    sex: str = "",
    confirm_patient: bool = False,
    context: AuditContext = SYSTEM,
) -> PatientResolution:
    """The visible patient with this MRN, or a new one (audited) in the user's scope; never overwritten.
    Call it inside a transaction that an error aborts whole (the upload's: no savepoint, whose SAVEPOINT
    and RELEASE were two round trips per upload); patient_resolve opens one.

    Only records the user may see are looked up, so a record in another department is neither revealed
    nor attached to: the caller gets exactly the answer a never-seen MRN gets (#17 finding 1). A visible
    record whose name or birth date contradicts what was entered is never merged silently (#16): 409
    patient_conflict, unless the caller confirms, which is audited.
    """
    mrn = mrn.strip()
    # No row lock: the upload never changes the patient, and FOR UPDATE here deadlocked concurrent uploads
    # (it blocks the deferred FK check at another upload's commit while that one holds the audit chain lock).
    existing = patient_find(user=user, mrn=mrn)
    if existing is not None:
        differences = patient_differences(existing, name=name, birth_date=birth_date)
        if differences and not confirm_patient:
            raise _conflict(mrn, differences)
        if differences:
            audit_record(
                actor=user,
                action="patient.mismatch_confirmed",
                object_type="patient",
                object_id=existing.id,
                after={
                    "differences": differences,
                    "entered_name": name.strip(),
                    "entered_birth_date": birth_date,
                },
                context=context,
            )
        return PatientResolution(existing, False, tuple(differences))
    return _patient_create(user, mrn, name, birth_date, sex, context)


# patient_resolve_within in a transaction of its own (or a savepoint of the caller's): the API's call.
patient_resolve = transaction.atomic(patient_resolve_within)


def patient_get_or_create(
    *,
    user: Any,
    mrn: str,
    name: str = "",
    birth_date: dt.date | None = None,
    sex: str = "",
    confirm_patient: bool = False,
    context: AuditContext = SYSTEM,
) -> tuple[Patient, bool]:
    """(patient, created): patient_resolve without the differences."""
    resolution = patient_resolve(
        user=user,
        mrn=mrn,
        name=name,
        birth_date=birth_date,
        sex=sex,
        confirm_patient=confirm_patient,
        context=context,
    )
    return resolution.patient, resolution.created


def _patient_create(
    user: Any, mrn: str, name: str, birth_date: dt.date | None, sex: str, context: AuditContext
) -> PatientResolution:
    """A new record in the user's scope (or the one a concurrent upload in that scope just created)."""
    patient = Patient(
        mrn=mrn,
        name=name.strip(),
        birth_date=birth_date,
        sex=sex or Patient.Sex.UNKNOWN,
        department=department_of(user),
        created_by=user,
    )
    patient.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():  # a savepoint: concurrent first uploads for one MRN race to create it
            patient.save(force_insert=True)
    except IntegrityError:
        # The other upload in this scope created it; never a 500.
        return PatientResolution(Patient.objects.get(patient_scope(user), mrn=mrn), False)
    audit_record(
        actor=user,
        action="patient.create",
        object_type="patient",
        object_id=patient.id,
        after={"mrn": patient.mrn, "name": patient.name, "birth_date": birth_date, "sex": patient.sex},
        context=context,
    )
    return PatientResolution(patient, True)
