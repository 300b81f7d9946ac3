"""Patient records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction

from diagnosis.models import Patient
from diagnosis.services.audit import SYSTEM, AuditContext, audit_record
from diagnosis.services.scope import department_of, patient_scope, visible_patients


def patient_find(*, user: Any, mrn: str) -> Patient | None:
    """The patient with this MRN among those the user may see, their own scope's record first."""
    own = Patient.objects.filter(patient_scope(user), mrn=mrn).first()
    return own or visible_patients(user).filter(mrn=mrn).order_by("created_at").first()


@transaction.atomic
def patient_get_or_create(
    *,
    user: Any,
    mrn: str,
    name: str = "",
    birth_date: dt.date | None = None,
    sex: str = "",
    context: AuditContext = SYSTEM,
) -> tuple[Patient, bool]:
    """The visible patient with this MRN, or a new one (audited) in the user's scope; never overwritten.

    Only records the user may see are looked up, so a record in another department is neither revealed
    nor attached to: the caller gets exactly the answer a never-seen MRN gets (#17 finding 1).
    """
    mrn = mrn.strip()
    # No row lock: the upload never changes the patient, and FOR UPDATE here deadlocked concurrent uploads
    # (it blocks the deferred FK check at another upload's commit while that one holds the audit chain lock).
    existing = patient_find(user=user, mrn=mrn)
    if existing is not None:
        return existing, False
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
        return Patient.objects.get(patient_scope(user), mrn=mrn), False
    audit_record(
        actor=user,
        action="patient.create",
        object_type="patient",
        object_id=patient.id,
        after={"mrn": patient.mrn, "name": patient.name, "birth_date": birth_date, "sex": patient.sex},
        context=context,
    )
    return patient, True
