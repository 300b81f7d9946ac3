"""Studies: upload (validate, store privately, record, audit, enqueue after commit), cancel, re-run."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils.crypto import salted_hmac

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.dispatch import prediction_run_send
from diagnosis.models import Image, Study
from diagnosis.services.patient_checks import (
    DICOM_PATIENT_MISMATCH,
    PATIENT_DETAILS_CONFIRMED,
    dicom_patient_check,
)
from diagnosis.services.patients import patient_resolve
from diagnosis.services.scope import department_of, visible_studies
from mlcore import InvalidImage
from mlcore.decoding import decode_image
from mlcore.image import DecodedImage
from portal.errors import Conflict, DomainError, PayloadTooLarge

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyUpload:
    """What a clinician submits: the patient, the study details and one image file."""

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


@dataclass(frozen=True)
class StudyCreated:
    study: Study
    created: bool
    duplicate_of: Study | None
    # The images a new study was created with, in upload order (empty for an idempotent replay).
    images: tuple[Image, ...] = ()


def safe_filename(name: str) -> str:
    """A display-only file name: no path, no control characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    return name[:200] or "upload"


def upload_size_check(size: int) -> None:
    """Refuse (413) a file above AIRSPACE_MAX_UPLOAD_BYTES, saying what the limit is."""
    if size > settings.AIRSPACE_MAX_UPLOAD_BYTES:
        limit = f"{settings.AIRSPACE_MAX_UPLOAD_BYTES / 2**20:.3g} MB"
        message = f"The file is larger than the {limit} upload limit."
        raise PayloadTooLarge(message, code="file_too_large", fields={"image": [message]})


def _decode(data: bytes) -> DecodedImage:
    """Validate the upload synchronously so that bad files are refused with a 4xx, not stored."""
    upload_size_check(len(data))
    try:
        return decode_image(
            data,
            max_bytes=settings.AIRSPACE_MAX_UPLOAD_BYTES,
            max_pixels=settings.AIRSPACE_MAX_PIXELS,
            min_side=settings.AIRSPACE_MIN_SIDE,
        )
    except InvalidImage as exc:
        error = PayloadTooLarge if exc.code == "file_too_large" else DomainError
        raise error(str(exc), code=exc.code, fields={"image": [str(exc)]}) from exc
    except Exception as exc:  # noqa: BLE001 - a decoder crash on hostile bytes is a 400, never a 500
        logger.warning("Decoder crashed on an upload: %r", exc)
        message = "The file is damaged or malformed and cannot be read."
        raise DomainError(message, code="corrupt_image", fields={"image": [message]}) from exc


def identifier_digest(value: str) -> str:
    """A keyed hash of an original DICOM identifier: matchable by the site, not reversible from the DB."""
    return salted_hmac("airspace.dicom.identifier", value.strip(), algorithm="sha256").hexdigest()


def dicom_uid_salt() -> bytes:
    """The secret salt for UID remapping: AIRSPACE_DICOM_UID_SALT, or one derived from SECRET_KEY."""
    if settings.AIRSPACE_DICOM_UID_SALT:
        return settings.AIRSPACE_DICOM_UID_SALT.encode()
    return salted_hmac("airspace.dicom.uid-remap", "v1", algorithm="sha256").digest()


def _deidentify(data: bytes, decoded: DecodedImage, mrn: str) -> tuple[bytes, dict[str, Any]]:
    """Strip identifying DICOM tags before storage when the site has it on (the default).

    The mapping back to the portal's patient is the Image row itself (image -> study -> patient) plus
    keyed hashes of the original identifiers, so a site can match a source file without storing it.
    """
    if decoded.format != "DICOM" or not settings.AIRSPACE_DEIDENTIFY_DICOM:
        return data, {}
    from mlcore.deidentify import TABLE_EDITION, deidentify

    cleaned = deidentify(data, uid_salt=dicom_uid_salt())
    identifiers = cleaned.identifiers
    patient_id = identifiers.get("PatientID", "").strip()
    return cleaned.data, {
        "profile": "PS3.15 Basic Application Level Confidentiality Profile (DCM 113100)",
        "table": TABLE_EDITION,
        "original_hmac_sha256": {k: identifier_digest(v) for k, v in identifiers.items() if v.strip()},
        "patient_id_matches_mrn": (patient_id == mrn.strip()) if patient_id else None,
    }


def image_record(
    *, name: str, data: bytes, decoded: DecodedImage, mrn: str, role: str = ""
) -> tuple[Image, bytes]:
    """An unsaved Image row for an accepted upload, and the bytes to store (DICOM de-identified if on)."""
    stored, deidentification = _deidentify(data, decoded, mrn)
    meta = {**decoded.meta, "flags": list(decoded.flags)} | ({"role": role} if role else {})
    image = Image(
        original_filename=safe_filename(name),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(stored),
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        meta=meta | ({"deidentification": deidentification} if deidentification else {}),
        deidentified=bool(deidentification),
    )
    return image, stored


def _existing_for_key(user: Any, key: str) -> Study | None:
    return Study.objects.filter(created_by=user, idempotency_key=key).first() if key else None


def study_create(
    *, user: Any, upload: StudyUpload, idempotency_key: str = "", context: AuditContext = SYSTEM
) -> StudyCreated:
    """Validate and store an upload, record patient/study/image and audit in one transaction, then enqueue."""
    if existing := _existing_for_key(user, idempotency_key):
        return StudyCreated(study=existing, created=False, duplicate_of=existing.duplicate_of)
    decoded = _decode(upload.image_data)
    image, data = image_record(
        name=upload.image_name, data=upload.image_data, decoded=decoded, mrn=upload.patient_mrn
    )
    duplicate = visible_studies(user).filter(images__sha256=image.sha256).order_by("created_at").first()
    try:
        study = _store(
            user=user,
            upload=upload,
            image=image,
            data=data,
            duplicate=duplicate,
            idempotency_key=idempotency_key,
            context=context,
        )
    except IntegrityError:
        # A concurrent retry with the same Idempotency-Key won the race: answer with its study.
        if existing := _existing_for_key(user, idempotency_key):
            return StudyCreated(study=existing, created=False, duplicate_of=existing.duplicate_of)
        raise
    return StudyCreated(study=study, created=True, duplicate_of=duplicate, images=(image,))


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
    image: Image,
    data: bytes,
    duplicate: Study | None,
    idempotency_key: str,
    context: AuditContext,
) -> Study:
    """Write rows and file atomically; if anything fails, the stored file is removed again."""
    try:
        with transaction.atomic():
            resolution = patient_resolve(
                user=user,
                mrn=upload.patient_mrn,
                name=upload.patient_name,
                birth_date=upload.patient_birth_date,
                sex=upload.patient_sex,
                confirm_patient=upload.confirm_patient,
                context=context,
            )
            patient = resolution.patient
            image_patient_check(image=image, data=upload.image_data, patient=patient)
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
                warnings=upload_warnings(resolution.differences, [image]),
            )
            # Fields are validated here; foreign keys (all set from rows just read, never from input),
            # the new primary keys' uniqueness and the check/unique constraints by the database on insert
            # (Django re-checks each with its own SELECT: 6 round trips per upload, see bench/load.py).
            study.full_clean(exclude=_STUDY_FKS, validate_unique=False, validate_constraints=False)
            study.save(force_insert=True)
            image.study = study
            image.file.save(image.original_filename, ContentFile(data), save=False)
            image.full_clean(exclude=["study"], validate_unique=False, validate_constraints=False)
            image.save(force_insert=True)
            audit_record(
                actor=user,
                action="study.upload",
                object_type="study",
                object_id=study.id,
                after={
                    "patient_mrn": patient.mrn,
                    "image_sha256": image.sha256,
                    "format": image.format,
                    "filename": image.original_filename,
                    "priority": study.priority,
                    "duplicate_of": str(duplicate.id) if duplicate else None,
                    "warnings": study.warnings,
                },
                context=context,
            )
            transaction.on_commit(lambda: study_enqueue(study_id=study.id))
    except Exception:
        if image.file.name:
            image.file.storage.delete(image.file.name)
        raise
    return study


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
