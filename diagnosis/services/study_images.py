"""Studies with several images (e.g. a frontal view plus a lateral): store every view, analyse the first.

The model is trained on single frontal chest X-rays, so the prediction runs on the primary (first) image
only; further images are stored, audited, scoped and downloadable beside it for the radiologist's read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.http import Http404

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Image, Study
from diagnosis.services import studies
from diagnosis.services.patient_checks import DICOM_PATIENT_MISMATCH
from portal.errors import DomainError

# A study is a handful of views, not a series: the frontal plus up to three more.
MAX_EXTRA_IMAGES = 3


def _checked(extra_images: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes, Any]]:
    """Validate every additional image before anything is written (a bad one refuses the whole upload)."""
    if len(extra_images) > MAX_EXTRA_IMAGES:
        message = f"At most {MAX_EXTRA_IMAGES + 1} images per study."
        raise DomainError(message, code="too_many_images", fields={"images": [message]})
    checked = []
    for name, data in extra_images:
        try:  # _decode refuses oversized files (413) as well as undecodable ones (400)
            checked.append((name, data, studies._decode(data)))
        except DomainError as exc:
            exc.fields = {"images": [f"{studies.safe_filename(name)}: {exc.message}"]}
            raise
    return checked


def _image_add(
    *, user: Any, study: Study, name: str, data: bytes, decoded: Any, context: AuditContext
) -> Image:
    """Store one additional image on a new study; audited in the caller's transaction."""
    image, stored = studies.image_record(
        name=name, data=data, decoded=decoded, mrn=study.patient.mrn, role="additional"
    )
    # Each file of a multi-image upload is checked against the patient on its own.
    studies.image_patient_check(image=image, data=data, patient=study.patient)
    image.study = study
    image.file.save(image.original_filename, ContentFile(stored), save=False)
    try:
        image.full_clean()
        image.save()
    except Exception:
        image.file.storage.delete(image.file.name)
        raise
    audit_record(
        actor=user,
        action="study.image_add",
        object_type="image",
        object_id=image.id,
        after={
            "study": str(study.id),
            "image_sha256": image.sha256,
            "format": image.format,
            "patient_check": image.meta.get("patient_check"),
        },
        context=context,
    )
    mismatch = (image.meta.get("patient_check") or {}).get("mismatch")
    if mismatch and DICOM_PATIENT_MISMATCH not in study.warnings:
        study.warnings = [*study.warnings, DICOM_PATIENT_MISMATCH]
        Study.objects.filter(id=study.id).update(warnings=study.warnings)
    return image


def study_create_with_images(
    *,
    user: Any,
    upload: studies.StudyUpload,
    extra_images: Sequence[tuple[str, bytes]] = (),
    idempotency_key: str = "",
    context: AuditContext = SYSTEM,
) -> studies.StudyCreated:
    """Create the study from its primary image and store the additional ones, all in one transaction."""
    checked = _checked(extra_images)
    written: list[str] = []
    try:
        with transaction.atomic():
            created = studies.study_create(
                user=user, upload=upload, idempotency_key=idempotency_key, context=context
            )
            if created.created:
                written += [image.file.name for image in created.images]
                for name, data, decoded in checked:
                    image = _image_add(
                        user=user, study=created.study, name=name, data=data, decoded=decoded, context=context
                    )
                    written.append(image.file.name)
                    created = replace(created, images=(*created.images, image))
    except Exception:
        # The rows rolled back; the files written so far are referenced by nothing and must go too.
        for file_name in written:
            Image.file.field.storage.delete(file_name)
        raise
    return created


def study_image_open(*, user: Any, study: Study, image_id: Any, context: AuditContext = SYSTEM) -> Image:
    """One image of a study the caller can already see (else 404), its download audited."""
    image = study.images.filter(id=image_id).first()
    if image is None:
        raise Http404("No such image on this study.")
    audit_record(
        actor=user,
        action="image.download",
        object_type="image",
        object_id=image.id,
        after={"study": str(study.id)},
        context=context,
    )
    return image
