"""Patient records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction

from diagnosis.models import Patient
from diagnosis.services.audit import SYSTEM, AuditContext, audit_record
from diagnosis.services.scope import department_of


@transaction.atomic
def patient_get_or_create(
    *,
    user: Any,
    mrn: str,
    name: str = "",
    birth_date: dt.date | None = None,
    sex: str = "",
    context: AuditContext = SYSTEM,
) -> Patient:
    """The patient with this MRN, created (and audited) if new; an existing record is never overwritten."""
    mrn = mrn.strip()
    # No row lock: the upload never changes the patient, and FOR UPDATE here deadlocked concurrent uploads
    # (it blocks the deferred FK check at another upload's commit while that one holds the audit chain lock).
    existing = Patient.objects.filter(mrn=mrn).first()
    if existing is not None:
        return existing
    patient = Patient(
        mrn=mrn,
        name=name.strip(),
        birth_date=birth_date,
        sex=sex or Patient.Sex.UNKNOWN,
        department=department_of(user),
        created_by=user,
    )
    patient.full_clean(validate_unique=False)
    try:
        with transaction.atomic():  # a savepoint: concurrent first uploads for one MRN race to create it
            patient.save(force_insert=True)
    except IntegrityError:
        return Patient.objects.get(mrn=mrn)  # the other upload created it; never a 500
    audit_record(
        actor=user,
        action="patient.create",
        object_type="patient",
        object_id=patient.id,
        after={"mrn": patient.mrn, "name": patient.name, "birth_date": birth_date, "sex": patient.sex},
        context=context,
    )
    return patient
