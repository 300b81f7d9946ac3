"""Receiving one instance (C-STORE or STOW-RS): read, route, and commit it before answering success.

An analysed instance is held with its study's collection (InboundStudy) until the study goes quiet
(services/assembly.py files it through the upload service); an ignored or damaged one is recorded with the
rule or the reason and keeps nothing of its bytes. Every receipt is audited (`dicom.receive`), with the
sending node's service account (or the STOW-RS caller) as the actor.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Study
from diagnosis.services.study_images import study_image_add
from pacs.dispatch import inbound_study_release_send
from pacs.models import DicomNode, InboundStudy, ReceivedInstance
from pacs.services.inbox import inbox_delete, inbox_name, inbox_write
from pacs.services.routing import (
    DamagedInstance,
    InstanceHeader,
    instance_header,
    instance_route,
    pixel_data_check,
)
from portal.errors import DomainError

logger = logging.getLogger(__name__)
Status = ReceivedInstance.Status
# deadlock_detected, serialization_failure: PostgreSQL rolled the receipt back; it is tried once more.
RETRIED_SQLSTATES = frozenset({"40P01", "40001"})


@dataclass(frozen=True)
class Received:
    """What became of one instance; `stored` is False only for a failure (the sender is told)."""

    status: str
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    rule: str = ""
    reason: str = ""
    instance_id: int | None = None
    duplicate: bool = False
    too_large: bool = False
    late: bool = False  # added to a study filed already

    @property
    def stored(self) -> bool:
        return self.status != Status.FAILED

    @property
    def adds_work(self) -> bool:
        """A new instance held for a study still to be filed and analysed (not ignored, failed, a repeat or
        late for a filed study): under overload its answer waits as an upload's does
        (diagnosis.services.admission)."""
        return self.status == Status.ACCEPTED and not (self.duplicate or self.late)


@dataclass(frozen=True)
class Sender:
    """Who sent it: the account studies are filed under, the node (C-STORE) and how (dicom or stow)."""

    user: Any
    node: DicomNode | None = None
    source: str = Study.Source.DICOM
    context: AuditContext = SYSTEM


def instance_receive(*, data: bytes, sender: Sender) -> Received:
    """Record one received instance (committed when this returns) and say what became of it."""
    if len(data) > settings.AIRSPACE_MAX_UPLOAD_BYTES:
        limit = f"{settings.AIRSPACE_MAX_UPLOAD_BYTES / 2**20:.3g} MB"
        failed = _record(
            sender, None, Status.FAILED, len(data), reason=f"Larger than the {limit} upload limit."
        )
        return replace(failed, too_large=True)
    try:
        header, dataset = instance_header(data)
    except DamagedInstance as exc:
        return _record(sender, None, Status.FAILED, len(data), reason=str(exc))
    route = instance_route(header, ignored_age_flags=settings.AIRSPACE_DICOM_IGNORED_AGE_FLAGS)
    if not route.analysed:
        return _record(sender, header, Status.IGNORED, len(data), rule=route.rule, reason=route.reason)
    try:
        pixel_data_check(dataset, header.transfer_syntax_uid)
    except DamagedInstance as exc:
        return _record(sender, header, Status.FAILED, len(data), reason=str(exc))
    try:
        return _accept(sender, header, data)
    except IntegrityError:  # another association opened this study's collection at the same moment
        return _accept(sender, header, data)


def _record(
    sender: Sender,
    header: InstanceHeader | None,
    status: str,
    size: int,
    *,
    rule: str = "",
    reason: str = "",
    inbound: InboundStudy | None = None,
    held_file: str = "",
    image: Any = None,
) -> Received:
    """Write the instance row and its audit event in one transaction (the caller's, if it has one)."""
    uids = {}
    if header is not None:
        uids = {
            "sop_class_uid": header.sop_class_uid,
            "sop_instance_uid": header.sop_instance_uid,
            "series_instance_uid": header.series_instance_uid,
            "study_instance_uid": header.study_instance_uid,
            "transfer_syntax_uid": header.transfer_syntax_uid,
            "modality": header.modality,
            "body_part": header.body_part,
            "view_position": header.view_position,
        }
    with transaction.atomic(savepoint=False):
        row = ReceivedInstance.objects.create(
            node=sender.node,
            sender=sender.user,
            source=sender.source,
            inbound_study=inbound,
            size_bytes=size,
            status=status,
            rule=rule,
            reason=reason,
            image=image,
            held_file=held_file,
            **uids,
        )
        audit_record(
            actor=sender.user,
            action="dicom.receive",
            object_type="received_instance",
            object_id=row.id,
            after={
                "status": status,
                "rule": rule,
                "reason": reason,
                "node": sender.node.name if sender.node else None,
                "source": sender.source,
                "sop_instance_uid": uids.get("sop_instance_uid", ""),
                "study_instance_uid": uids.get("study_instance_uid", ""),
            },
            context=sender.context,
        )
    return Received(
        status, uids.get("sop_class_uid", ""), uids.get("sop_instance_uid", ""), rule, reason, row.id
    )


def _inbound_fields(header: InstanceHeader) -> dict[str, Any]:
    names = [
        "patient_id",
        "issuer_of_patient_id",
        "patient_name",
        "patient_birth_date",
        "patient_sex",
        "accession_number",
        "dicom_study_id",
        "study_date",
        "study_time",
        "referring_physician_name",
        "study_description",
    ]
    return {name: getattr(header, name) for name in names}


def _accept(sender: Sender, header: InstanceHeader, data: bytes) -> Received:
    """Hold an analysed instance with its study's collection, or add it to the study filed already.

    The bytes are written to the encrypted inbox (and fsynced) on another thread while the transaction does
    its queries; the row naming the file commits only once the file is durable. A receipt that does not
    commit, a resend and a late instance leave no inbox file behind.
    """
    held_file = inbox_name()
    writing = _inbox_writer().submit(inbox_write, data, held_file)
    try:
        received = _hold_retried(sender, header, data, held_file, writing)
    except BaseException:
        _discard(writing, held_file)
        raise
    if not received.adds_work:  # nothing new held: a failure, an ignored, repeated or late instance
        _discard(writing, held_file)
    return received


@functools.cache
def _inbox_writer() -> ThreadPoolExecutor:
    """Threads that write inbox files (encryption, write and fsync release the GIL)."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="dicom-inbox")


def _discard(writing: Future[str], held_file: str) -> None:
    """Delete the file once its write has finished (or failed)."""
    with contextlib.suppress(Exception):
        writing.result()
    inbox_delete(held_file)


def _hold_retried(
    sender: Sender, header: InstanceHeader, data: bytes, held_file: str, writing: Future[str]
) -> Received:
    """`_hold`, once more if PostgreSQL chose it as a deadlock (or serialisation) victim, before the sender is
    answered 0xA700. Only as its own transaction: inside a caller's, the caller's locks would stay held."""
    try:
        return _hold(sender, header, data, held_file, writing)
    except OperationalError as exc:
        if connection.in_atomic_block or getattr(exc.__cause__, "sqlstate", None) not in RETRIED_SQLSTATES:
            raise
        logger.warning("Receipt of %s hit a deadlock, retried once: %s", header.sop_instance_uid, exc)
        return _hold(sender, header, data, held_file, writing)


def _hold(
    sender: Sender, header: InstanceHeader, data: bytes, held_file: str, writing: Future[str]
) -> Received:
    """In one transaction: the study's collection (opened if new) and the instance row naming the file."""
    with transaction.atomic():
        held = ReceivedInstance.objects.filter(
            sender=sender.user, sop_instance_uid=header.sop_instance_uid, status=Status.ACCEPTED
        ).first()
        if held is not None:  # a resend (lost answer, retried association): acknowledged, kept once
            return Received(
                Status.ACCEPTED,
                header.sop_class_uid,
                header.sop_instance_uid,
                instance_id=held.id,
                duplicate=True,
            )
        now = timezone.now()
        # The study's open collection, else the study filed from it already (one query, both locked).
        candidates = list(
            InboundStudy.objects.select_for_update()
            .filter(sender=sender.user, study_instance_uid=header.study_instance_uid)
            .filter(
                Q(state=InboundStudy.State.COLLECTING)
                | Q(state=InboundStudy.State.RELEASED, study__isnull=False)
            )
            .order_by("-id")[:2]
        )
        collecting = next((c for c in candidates if c.state == InboundStudy.State.COLLECTING), None)
        if collecting is None:
            filed = next(iter(candidates), None)
            if filed is not None:
                return _add_late(sender, header, data, filed)
            collecting = InboundStudy.objects.create(
                node=sender.node,
                sender=sender.user,
                source=sender.source,
                study_instance_uid=header.study_instance_uid,
                last_received_at=now,
                **_inbound_fields(header),
            )
            transaction.on_commit(lambda: inbound_study_release_send(inbound_study_id=collecting.id))
        else:
            InboundStudy.objects.filter(id=collecting.id).update(last_received_at=now)
        received = _record(
            sender, header, Status.ACCEPTED, len(data), inbound=collecting, held_file=held_file
        )
        writing.result()  # the file is durable before the row naming it commits (a failed write rolls back)
        return received


def _add_late(sender: Sender, header: InstanceHeader, data: bytes, filed: InboundStudy) -> Received:
    """After the study was filed: shown with it, never re-analysed (the study was analysed on an image)."""
    try:
        image = study_image_add(
            user=sender.user,
            study=filed.study,
            name=f"{header.sop_instance_uid}.dcm",
            data=data,
            context=sender.context,
        )
    except DomainError as exc:
        if exc.code == "too_many_images":
            return _record(
                sender,
                header,
                Status.IGNORED,
                len(data),
                rule="study_image_limit",
                reason=exc.message,
                inbound=filed,
            )
        return _record(sender, header, Status.FAILED, len(data), reason=exc.message, inbound=filed)
    return replace(_record(sender, header, Status.ACCEPTED, len(data), inbound=filed, image=image), late=True)
