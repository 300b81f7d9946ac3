"""Studies: upload one or several images (validate, store privately, record, audit, enqueue after commit),
cancel, re-run."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from audit.services.events import SYSTEM, AuditContext, EventFields, audit_record, audit_record_if_changed
from diagnosis.dispatch import prediction_run_send
from diagnosis.models import Image, Study
from diagnosis.services.images import image_decode, image_record, safe_filename
from diagnosis.services.patient_checks import (
    DICOM_PATIENT_MISMATCH,
    PATIENT_DETAILS_CONFIRMED,
    dicom_patient_check,
)
from diagnosis.services.patients import patient_resolve_within
from diagnosis.services.scope import department_of, visible_studies
from diagnosis.services.storage import stored_files
from portal.errors import Conflict, DomainError
from portal.frozen_queries import FrozenSelect, insert_statement, mark_inserted

logger = logging.getLogger(__name__)


# A study is a handful of views, not a series: the frontal plus up to three more.
MAX_EXTRA_IMAGES = 3


@dataclass(frozen=True)
class StudyUpload:
    """What a clinician submits: the patient, the study details and the image to analyse."""

    image_name: str
    image_data: bytes
    patient_mrn: str
    patient_name: str = ""
    patient_birth_date: dt.date | None = None
    patient_sex: str = ""
    accession_number: str = ""
    study_date: dt.date | None = None
    clinical_notes: str = ""
    priority: str = Study.Priority.ROUTINE
    # Set after a 409 patient_conflict: file under the existing record although the details differ.
    confirm_patient: bool = False
    # How it arrived (Study.Source) and, from DICOM or STOW-RS, the study it came from.
    source: str = Study.Source.UPLOAD
    study_instance_uid: str = ""


@dataclass(frozen=True)
class StudyCreated:
    study: Study
    created: bool
    duplicate_of: Study | None
    # The images a new study was created with, in upload order (empty for an idempotent replay).
    images: tuple[Image, ...] = ()


def _existing_for_key(user: Any, key: str) -> Study | None:
    return Study.objects.filter(created_by=user, idempotency_key=key).first() if key else None


def study_create(
    *,
    user: Any,
    upload: StudyUpload,
    extra_images: Sequence[tuple[str, bytes]] = (),
    idempotency_key: str = "",
    context: AuditContext = SYSTEM,
) -> StudyCreated:
    """The one upload path (the page and the API): validate every image, then store the patient, study,
    images and audit in one transaction and enqueue after commit. The first image is the one analysed.
    """
    if existing := _existing_for_key(user, idempotency_key):
        return StudyCreated(study=existing, created=False, duplicate_of=existing.duplicate_of)
    checked = [(upload.image_name, upload.image_data, image_decode(upload.image_data), "")]
    checked += [
        (name, data, decoded, "additional") for name, data, decoded in _extra_images_checked(extra_images)
    ]
    # Each image: the unsaved row, the bytes to store (DICOM de-identified) and the bytes uploaded.
    images = []
    for name, data, decoded, role in checked:
        image, stored = image_record(name=name, data=data, decoded=decoded, mrn=upload.patient_mrn, role=role)
        images.append((image, stored, data))
    duplicate = _duplicate_of(user, images[0][0].sha256)
    try:
        study = _store(
            user=user,
            upload=upload,
            images=images,
            duplicate=duplicate,
            idempotency_key=idempotency_key,
            context=context,
        )
    except IntegrityError:
        # A concurrent retry with the same Idempotency-Key won the race: answer with its study.
        if existing := _existing_for_key(user, idempotency_key):
            return StudyCreated(study=existing, created=False, duplicate_of=existing.duplicate_of)
        raise
    return StudyCreated(
        study=study, created=True, duplicate_of=duplicate, images=tuple(image for image, _, _ in images)
    )


# Compiled once per process: every upload asks.
_STUDIES_WITH_BYTES = FrozenSelect(
    lambda sha256: Image.objects.filter(sha256=sha256).order_by().values_list("study_id", flat=True),
    "<sha256>",
)


def _duplicate_of(user: Any, sha256: str) -> Study | None:
    """The earliest study this user may see that holds an image with the same bytes, if any.

    Two lookups by index (the images by sha256, then those studies by primary key) instead of one join:
    with statistics that do not yet know the tables' size (a fresh or bulk-loaded database, autovacuum
    off or behind), PostgreSQL planned the join as a walk over every study of the uploader, 7 ms of
    database CPU per upload at 1,200 studies and growing with each. A new image (the usual upload) costs
    the first lookup only.
    """
    study_ids = _STUDIES_WITH_BYTES.fetch(sha256)
    if not study_ids:
        return None
    # Only the id is used (the new study's duplicate_of, the audit event): the other columns stay deferred.
    return visible_studies(user).filter(id__in=study_ids).order_by("created_at").only("id").first()


def _extra_images_checked(extra_images: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes, Any]]:
    """Decode every further view before anything is written (a bad one refuses the whole upload)."""
    if len(extra_images) > MAX_EXTRA_IMAGES:
        message = f"At most {MAX_EXTRA_IMAGES + 1} images per study."
        raise DomainError(message, code="too_many_images", fields={"images": [message]})
    checked = []
    for name, data in extra_images:
        try:  # image_decode refuses oversized files (413) as well as undecodable ones (400)
            checked.append((name, data, image_decode(data)))
        except DomainError as exc:
            exc.fields = {"images": [f"{safe_filename(name)}: {exc.message}"]}
            raise
    return checked


# Foreign keys of a new study: each set from a row the upload just read, none from client input.
_STUDY_FKS = [field.name for field in Study._meta.concrete_fields if field.is_relation]


def image_patient_check(*, image: Image, data: bytes, patient: Any) -> None:
    """Record on the image whether its DICOM header names the patient it is filed under (per file)."""
    check = dicom_patient_check(data=data, image_format=image.format, patient=patient)
    if check is not None:
        image.meta = {**image.meta, "patient_check": check}


def upload_warnings(differences: Sequence[str], images: Sequence[Image]) -> list[str]:
    """The study's wrong-patient warnings: confirmed differing details, a header naming someone else."""
    warnings = [PATIENT_DETAILS_CONFIRMED] if differences else []
    if any((image.meta.get("patient_check") or {}).get("mismatch") for image in images):
        warnings.append(DICOM_PATIENT_MISMATCH)
    return warnings


def _store(
    *,
    user: Any,
    upload: StudyUpload,
    images: list[tuple[Image, bytes, bytes]],
    duplicate: Study | None,
    idempotency_key: str,
    context: AuditContext,
) -> Study:
    """Write the rows and files; a failed row or commit removes every file written (stored_files).

    `images` holds each unsaved Image row, the bytes to store (de-identified) and the bytes uploaded.
    """
    with stored_files() as files, transaction.atomic():
        resolution = patient_resolve_within(
            user=user,
            mrn=upload.patient_mrn,
            name=upload.patient_name,
            birth_date=upload.patient_birth_date,
            sex=upload.patient_sex,
            confirm_patient=upload.confirm_patient,
            context=context,
        )
        patient = resolution.patient
        for image, _, original in images:  # each file of a multi-image upload is checked on its own
            image_patient_check(image=image, data=original, patient=patient)
        study = Study(
            patient=patient,
            accession_number=upload.accession_number.strip(),
            study_date=upload.study_date,
            clinical_notes=upload.clinical_notes,
            priority=upload.priority,
            department=department_of(user),
            created_by=user,
            idempotency_key=idempotency_key,
            duplicate_of=duplicate,
            warnings=upload_warnings(resolution.differences, [image for image, _, _ in images]),
            source=upload.source,
            study_instance_uid=upload.study_instance_uid,
        )
        # Fields are validated here; foreign keys (all set from rows just read, never from input),
        # the new primary keys' uniqueness and the check/unique constraints by the database on insert
        # (Django re-checks each with its own SELECT: 6 round trips per upload, see bench/load.py).
        study.full_clean(exclude=_STUDY_FKS, validate_unique=False, validate_constraints=False)
        writes = [insert_statement(study)]
        for index, (image, stored, _) in enumerate(images):
            image.study = study
            files.save(image.file, image.original_filename, stored)
            image.full_clean(exclude=["study"], validate_unique=False, validate_constraints=False)
            # The rows and the audit chain's lock and head go as one message (one round trip for the study,
            # its first image and the event's head, where there were three).
            writes.append(insert_statement(image))
            audit_record_if_changed(
                writes,
                **_image_event(user=user, study=study, image=image, primary=index == 0, duplicate=duplicate),
                context=context,
            )
            writes = []
        mark_inserted(study)
        for image, _, _ in images:
            mark_inserted(image)
        transaction.on_commit(lambda: study_enqueue(study_id=study.id))
    return study


def _image_event(
    *, user: Any, study: Study, image: Image, primary: bool, duplicate: Study | None
) -> EventFields:
    """`study.upload` for the first image (the study itself), `study.image_add` for each further view."""
    if not primary:
        after = {
            "study": str(study.id),
            "image_sha256": image.sha256,
            "format": image.format,
            "patient_check": image.meta.get("patient_check"),
        }
        return {
            "actor": user,
            "action": "study.image_add",
            "object_type": "image",
            "object_id": image.id,
            "after": after,
        }
    return {
        "actor": user,
        "action": "study.upload",
        "object_type": "study",
        "object_id": study.id,
        "after": {
            "patient_mrn": study.patient.mrn,
            "image_sha256": image.sha256,
            "format": image.format,
            "filename": image.original_filename,
            "priority": study.priority,
            "duplicate_of": str(duplicate.id) if duplicate else None,
            "warnings": study.warnings,
            "source": study.source,
        },
    }


def study_enqueue(*, study_id: Any, priority: int | None = None) -> bool:
    """Hand the study to the broker (`priority` 0 jumps the queue: a recovered study); if the broker is
    down the study stays queued for the sweeper."""
    try:
        prediction_run_send(study_id=study_id, priority=priority)
    except Exception as exc:  # noqa: BLE001 - any broker fault leaves the study safely queued
        logger.warning("Broker unavailable, study %s stays queued for the sweeper: %s", study_id, exc)
        return False
    return True


@transaction.atomic
def study_cancel(*, user: Any, study: Study, context: AuditContext = SYSTEM) -> Study:
    """Cancel a study that no worker has started yet."""
    updated = Study.objects.filter(id=study.id, status=Study.Status.QUEUED).update(
        status=Study.Status.CANCELLED, status_reason=f"Cancelled by {user.get_username()}"
    )
    if not updated:
        raise Conflict("Only a queued study can be cancelled.", code="not_cancellable")
    audit_record(
        actor=user,
        action="study.cancel",
        object_type="study",
        object_id=study.id,
        before={"status": study.status},
        after={"status": Study.Status.CANCELLED},
        context=context,
    )
    study.refresh_from_db()
    return study


@transaction.atomic
def study_rerun(*, user: Any, study: Study, context: AuditContext = SYSTEM) -> Study:
    """Admin: queue the study again on the current model; a new prediction is added, none edited."""
    updated = (
        Study.objects.filter(id=study.id, status__in=Study.FINAL_STATUSES)
        .exclude(status=Study.Status.CANCELLED)
        .update(
            status=Study.Status.QUEUED,
            error_code="",
            status_reason="",
            processing_started_at=None,
            processing_worker="",
            attempts=0,
            rerun_requested_by=user,
            completed_at=None,
        )
    )
    if not updated:
        raise Conflict("Only a finished study can be re-run.", code="not_rerunnable")
    audit_record(
        actor=user,
        action="study.rerun",
        object_type="study",
        object_id=study.id,
        before={"status": study.status},
        after={"status": Study.Status.QUEUED},
        context=context,
    )
    transaction.on_commit(lambda: study_enqueue(study_id=study.id))
    study.refresh_from_db()
    return study
