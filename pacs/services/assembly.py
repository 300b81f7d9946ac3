"""Study assembly: a collected study is filed once no instance of it has arrived for the quiet window.

Filing goes through the upload service (diagnosis.services.studies.study_create) as the sender's account:
the first analysed instance is the image analysed, up to three more are further views, same validation,
de-identification, audit events and queue as an upload. An instance the decoder refuses is marked failed
and the study is filed from the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from diagnosis.models import Patient, Study
from diagnosis.services.images import image_decode
from diagnosis.services.studies import MAX_EXTRA_IMAGES, StudyCreated, StudyUpload, study_create
from pacs.models import InboundStudy, ReceivedInstance
from pacs.services.inbox import inbox_delete, inbox_read
from portal.errors import DomainError

logger = logging.getLogger(__name__)
Status = ReceivedInstance.Status
# After this long past its quiet window a collecting study is filed by the beat sweep (its task was lost).
SWEEP_GRACE_SECONDS = 30


@dataclass(frozen=True)
class Release:
    """The outcome: filed (the study), failed (why), or still collecting (seconds to wait)."""

    study: Study | None = None
    error: str = ""
    wait_seconds: float = 0.0


def person_name(pn: str) -> str:
    """DICOM PN "Family^Given^Middle^Prefix^Suffix" as the portal writes a name ("Given Middle Family")."""
    parts = (pn.split("=")[0].split("^") + [""] * 5)[:5]
    family, given, middle, prefix, suffix = (part.strip() for part in parts)
    return " ".join(p for p in (prefix, given, middle, family, suffix) if p)[:200]


def _sex(value: str) -> str:
    return value if value in Patient.Sex.values else ""


def _upload(inbound: InboundStudy, first: ReceivedInstance) -> StudyUpload:
    return StudyUpload(
        image_name=f"{first.sop_instance_uid}.dcm",
        image_data=inbox_read(first.held_file),
        patient_mrn=inbound.patient_id,
        patient_name=person_name(inbound.patient_name),
        patient_birth_date=inbound.patient_birth_date,
        patient_sex=_sex(inbound.patient_sex),
        accession_number=inbound.accession_number,
        study_date=inbound.study_date,
        clinical_notes=inbound.study_description,
        # The PACS is the record of who the patient is: differing details are filed, flagged and audited.
        confirm_patient=True,
        source=inbound.source,
        study_instance_uid=inbound.study_instance_uid,
    )


def inbound_study_release(*, inbound_study_id: int, now: dt.datetime | None = None) -> Release:
    """File the study if it has been quiet long enough; otherwise say how long to wait."""
    now = now or timezone.now()
    quiet = dt.timedelta(seconds=settings.AIRSPACE_DICOM_STUDY_QUIET_SECONDS)
    with transaction.atomic():
        # Lock the collection's row only (`of`): a plain select_for_update() locks every joined row FOR UPDATE,
        # the sender's account too, which each receipt of that sender references (FOR KEY SHARE at its COMMIT,
        # after it took the audit chain lock): the filing, waiting for the chain lock, deadlocked with it.
        inbound = (
            InboundStudy.objects.select_for_update(of=("self",))
            .select_related("sender")
            .filter(id=inbound_study_id, state=InboundStudy.State.COLLECTING)
            .first()
        )
        if inbound is None:  # filed or failed already (a repeated task)
            return Release()
        if inbound.last_received_at + quiet > now:
            return Release(wait_seconds=(inbound.last_received_at + quiet - now).total_seconds())
        return _file(inbound, now)


def _file(inbound: InboundStudy, now: dt.datetime) -> Release:
    """Inside the caller's transaction: create the study from the held instances, then drop their bytes."""
    held = list(inbound.instances.filter(status=Status.ACCEPTED, image__isnull=True).order_by("id"))
    for instance in held[MAX_EXTRA_IMAGES + 1 :]:
        _mark(
            instance,
            Status.IGNORED,
            "study_image_limit",
            f"A study keeps at most {MAX_EXTRA_IMAGES + 1} images.",
        )
    usable = held[: MAX_EXTRA_IMAGES + 1]
    try:
        created = _create(inbound, usable)
    except DomainError:
        # Find the instances the decoder refuses (marked failed), then file the study from the rest.
        usable = [i for i in usable if _decodes(i)]
        if not usable:
            return _fail(inbound, now, "No received instance of the study could be decoded.")
        try:
            created = _create(inbound, usable)
        except DomainError as exc:
            for instance in usable:
                _mark(instance, Status.FAILED, "", exc.message)
            return _fail(inbound, now, exc.message)
    for instance, image in zip(usable, created.images, strict=False):
        ReceivedInstance.objects.filter(id=instance.id).update(image=image)
    # The study's files are stored de-identified now: the inbox copies go (an idempotent replay too).
    _release_files(usable)
    InboundStudy.objects.filter(id=inbound.id).update(
        state=InboundStudy.State.RELEASED, study=created.study, released_at=now
    )
    return Release(study=created.study)


def _create(inbound: InboundStudy, usable: list[ReceivedInstance]) -> StudyCreated:
    """The upload service, as the sender, in a savepoint (a refusal leaves the collection as it was)."""
    with transaction.atomic():
        return study_create(
            user=inbound.sender,
            upload=_upload(inbound, usable[0]),
            extra_images=[(f"{i.sop_instance_uid}.dcm", inbox_read(i.held_file)) for i in usable[1:]],
            idempotency_key=f"dicom-study:{inbound.study_instance_uid}",
        )


def _decodes(instance: ReceivedInstance) -> bool:
    """The upload's own validation; a refused instance is marked failed with the decoder's reason."""
    try:
        image_decode(inbox_read(instance.held_file))
    except DomainError as exc:
        _mark(instance, Status.FAILED, "", exc.message)
        return False
    return True


def _mark(instance: ReceivedInstance, status: str, rule: str, reason: str) -> None:
    ReceivedInstance.objects.filter(id=instance.id).update(status=status, rule=rule, reason=reason)
    _release_files([instance])


def _release_files(instances: list[ReceivedInstance]) -> None:
    """Clear the rows' inbox names now and delete the files once that commits (never before)."""
    names = [i.held_file for i in instances if i.held_file]
    ReceivedInstance.objects.filter(id__in=[i.id for i in instances]).update(held_file="")
    transaction.on_commit(lambda: [inbox_delete(name) for name in names])


def _fail(inbound: InboundStudy, now: dt.datetime, error: str) -> Release:
    logger.warning("Inbound study %s not filed: %s", inbound.study_instance_uid, error)
    InboundStudy.objects.filter(id=inbound.id).update(
        state=InboundStudy.State.FAILED, error=error, released_at=now
    )
    return Release(error=error)


def inbound_studies_overdue(*, now: dt.datetime | None = None) -> list[int]:
    """Collecting studies well past their quiet window (their release task was lost): the sweep files them."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.AIRSPACE_DICOM_STUDY_QUIET_SECONDS + SWEEP_GRACE_SECONDS)
    return list(
        InboundStudy.objects.filter(
            state=InboundStudy.State.COLLECTING, last_received_at__lt=cutoff
        ).values_list("id", flat=True)
    )
