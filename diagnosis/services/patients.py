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


def patient_find(*, user: Any, mrn: str) -> Patient | None:
    """The patient with this MRN among those the user may see, their own scope's record first."""
    own = Patient.objects.filter(patient_scope(user), mrn=mrn).first()
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


@transaction.atomic
def patient_resolve(
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
