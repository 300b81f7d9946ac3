"""Sending one DICOM object to a node: C-STORE SCU (pynetdicom) or STOW-RS (PS3.18) to its DICOMweb URL."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
import uuid

import pydicom
from django.conf import settings
from pynetdicom import AE
from pynetdicom.sop_class import uid_to_sop_class

from pacs.models import DicomNode

_SUCCESS = 0x0000
# PS3.4 C-STORE warnings: stored, with coercion or elements discarded.
_WARNINGS = (0x0107, 0x0116, 0xB000, 0xB006, 0xB007)


class SendError(Exception):
    """The node did not take the object (unreachable, refused or a failure status): try again later."""


def object_send(*, node: DicomNode, data: bytes) -> str:
    """Send by STOW-RS when the node has a DICOMweb URL, else by C-STORE; what the node answered."""
    if node.dicomweb_url:
        return stow_rs(url=node.dicomweb_url, data=data, timeout=settings.AIRSPACE_DICOM_SEND_TIMEOUT)
    return c_store(
        host=node.host,
        port=node.port,
        called_ae=node.ae_title,
        data=data,
        timeout=settings.AIRSPACE_DICOM_SEND_TIMEOUT,
    )


def c_store(*, host: str, port: int, called_ae: str, data: bytes, timeout: int) -> str:
    """One association, one C-STORE, in the object's own transfer syntax (explicit VR little endian)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    ae = AE(ae_title=settings.AIRSPACE_DICOM_AE_TITLE)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.add_requested_context(uid_to_sop_class(ds.SOPClassUID), ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(host, port, ae_title=called_ae)
    if not assoc.is_established:
        state = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established"
        raise SendError(f"Association with {called_ae}@{host}:{port} {state}.")
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    code = int(status.Status) if status and "Status" in status else None
    if code is None:
        raise SendError(f"No C-STORE response from {called_ae}@{host}:{port} (timed out or aborted).")
    if code != _SUCCESS and code not in _WARNINGS:
        raise SendError(f"{called_ae}@{host}:{port} answered C-STORE status 0x{code:04X}.")
    return f"C-STORE status 0x{code:04X}"


def stow_rs(*, url: str, data: bytes, timeout: int) -> str:
    """POST {url}/studies as multipart/related; type="application/dicom" (one part); 200 or 202 is stored."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        (
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    request = urllib.request.Request(
        url.rstrip("/") + "/studies",
        data=body,
        method="POST",
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - admin-set URL
            return f"STOW-RS HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        raise SendError(f"STOW-RS to {url} answered HTTP {exc.code}: {exc.read(300)!r}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise SendError(f"STOW-RS to {url} failed: {exc}") from exc
