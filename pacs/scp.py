"""The DICOM receiver: a pynetdicom C-STORE and C-ECHO SCP (`manage.py dicom_listen`).

1. At association, the calling AE title must belong to an active inbound node registered at the caller's
   address; anyone else is rejected (A-ASSOCIATE-RJ, "calling AE title not recognised") and audited.
2. Each C-STORE is handed to services.receive.instance_receive, which commits before this answers
   Success; a damaged dataset answers Failure (0xC000) with the reason, an oversized one or one past the
   per-association limit Out of Resources (0xA700). An unexpected fault (the database down) also answers
   0xA700, which senders retry; nothing half-written stays behind (one transaction per instance).
3. Every storage SOP class is accepted, so a PACS that routes everything gets an answer: routing records
   what is not a chest radiograph as ignored. Idle associations are dropped after AIRSPACE_DICOM_IDLE_SECONDS.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import close_old_connections, connection
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from audit.services.events import AuditContext, audit_record
from diagnosis.services.admission import upload_admitted
from pacs.models import DicomNode
from pacs.selectors import inbound_node_for
from pacs.services.receive import Received, Sender, instance_receive

logger = logging.getLogger(__name__)

TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]
SUCCESS, OUT_OF_RESOURCES, CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xC000


@dataclass
class _Association:
    """What the receiver knows about one accepted association."""

    node: DicomNode
    sender: Sender
    instances: int = 0


class Receiver:
    """The SCP's handlers and per-association state (one thread per association)."""

    def __init__(self) -> None:
        self._associations: dict[int, _Association] = {}
        self._lock = threading.Lock()

    def handlers(self) -> list[tuple[Any, Any]]:
        return [
            (evt.EVT_REQUESTED, self.on_requested),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_RELEASED, self.on_closed),
            (evt.EVT_ABORTED, self.on_closed),
        ]

    def on_requested(self, event: Any) -> None:
        """Accept only a registered inbound node calling from its registered address; fail closed."""
        calling = str(event.assoc.requestor.primitive.calling_ae_title or "").strip()
        host = str(event.assoc.requestor.address)
        try:
            close_old_connections()
            node = inbound_node_for(ae_title=calling, host=host)
            if node is None or node.service_user is None:
                _refusal_audit(calling, host)
        except Exception:  # noqa: BLE001 - pynetdicom would accept after a handler error: reject instead
            logger.exception("Could not check the association from %s at %s", calling, host)
            _reject(event.assoc, transient=True)
            return
        if node is None or node.service_user is None:
            logger.warning("Refused association from %s at %s: not a registered inbound node", calling, host)
            _reject(event.assoc, transient=False)
            return
        context = AuditContext(ip=host, user_agent=f"DICOM {calling}")
        with self._lock:
            self._associations[id(event.assoc)] = _Association(
                node, Sender(user=node.service_user, node=node, context=context)
            )

    def on_store(self, event: Any) -> int | Dataset:
        """Commit the instance, then answer; the status says what the sender must do."""
        with self._lock:
            state = self._associations.get(id(event.assoc))
        if state is None:
            return OUT_OF_RESOURCES
        state.instances += 1
        if state.instances > settings.AIRSPACE_DICOM_MAX_INSTANCES_PER_ASSOCIATION:
            return _status(OUT_OF_RESOURCES, "Too many instances in one association; open another.")
        close_old_connections()
        try:
            received = instance_receive(data=event.encoded_dataset(include_meta=True), sender=state.sender)
        except Exception:  # noqa: BLE001 - the transaction rolled back; the sender retries later
            logger.exception("Could not record an instance from %s", state.node.name)
            return _status(OUT_OF_RESOURCES, "Airspace could not store the instance now; retry later.")
        if received.adds_work:
            upload_admitted()  # under overload the answer waits (the sender slows down); it is stored already
        return _answer(received)

    def on_closed(self, event: Any) -> None:
        """Forget the association and give its thread's database connection back."""
        with self._lock:
            self._associations.pop(id(event.assoc), None)
        connection.close()


def _refusal_audit(calling: str, host: str) -> None:
    audit_record(
        actor=None,
        action="dicom.association_refused",
        object_type="dicom_node",
        object_id=calling,
        after={"calling_ae_title": calling, "host": host},
        context=AuditContext(ip=host),
    )


def _reject(assoc: Any, *, transient: bool) -> None:
    """A-ASSOCIATE-RJ from the service user: calling AE title not recognised (or, transient, no reason)."""
    assoc.acse.send_reject(0x02 if transient else 0x01, 0x01, 0x01 if transient else 0x03)
    assoc.kill()  # as pynetdicom's own rejection does: lets the A-ASSOCIATE-RJ go out first


def _status(code: int, comment: str) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment[:64]
    return status


def _answer(received: Received) -> int | Dataset:
    if received.stored:
        return SUCCESS
    return _status(OUT_OF_RESOURCES if received.too_large else CANNOT_UNDERSTAND, received.reason)


def receiver_ae() -> AE:
    """The application entity: our AE title, every storage SOP class in the syntaxes we decode, C-ECHO."""
    ae = AE(ae_title=settings.AIRSPACE_DICOM_AE_TITLE)
    ae.require_called_aet = True
    ae.network_timeout = settings.AIRSPACE_DICOM_IDLE_SECONDS
    ae.maximum_pdu_size = 0  # no limit on the PDUs a sender may use: fewer, larger reads
    ae.add_supported_context(Verification)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES)
    return ae


def _warm_up() -> None:
    """Pay first-use costs (the broker connection: ~0.5 s) before the first association, not inside it."""
    try:
        with current_app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - a broker down now is the sweep's to cover, not a reason to stop
        logger.warning("Broker not reachable at start: %s", exc)


def dicom_listen(*, bind: str, port: int) -> None:
    """Serve associations until the process is stopped."""
    _warm_up()
    receiver = Receiver()
    ae = receiver_ae()
    logger.info("DICOM receiver %s listening on %s:%s", settings.AIRSPACE_DICOM_AE_TITLE, bind, port)
    ae.start_server((bind, port), block=True, evt_handlers=receiver.handlers())
