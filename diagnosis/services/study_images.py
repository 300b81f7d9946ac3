"""A further view added to an existing study (a DICOM instance that arrived after its study was filed).

Validated, de-identified, stored and audited exactly like an upload's further view (`study.image_add`);
it is shown with the study and never re-runs the analysis: the study keeps the image it was analysed on.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Image, Study
from diagnosis.services.images import image_decode, image_record
from diagnosis.services.storage import stored_files
from diagnosis.services.studies import MAX_EXTRA_IMAGES, image_patient_check
from portal.errors import Conflict


def study_image_add(
    *, user: Any, study: Study, name: str, data: bytes, context: AuditContext = SYSTEM
) -> Image:
    """Validate the image (4xx DomainError if bad), then store its row, file and audit in one transaction."""
    decoded = image_decode(data)
    image, stored = image_record(
        name=name, data=data, decoded=decoded, mrn=study.patient.mrn, role="additional"
    )
    with stored_files() as files, transaction.atomic():
        locked = Study.objects.select_for_update().get(id=study.id)
        if locked.images.count() > MAX_EXTRA_IMAGES:
            raise Conflict(f"The study has {MAX_EXTRA_IMAGES + 1} images already.", code="too_many_images")
        image_patient_check(image=image, data=data, patient=study.patient)
        image.study = locked
        files.save(image.file, image.original_filename, stored)
        image.full_clean(exclude=["study"], validate_unique=False, validate_constraints=False)
        image.save(force_insert=True)
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
                "after_analysis": True,
            },
            context=context,
        )
    return image
