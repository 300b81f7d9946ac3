"""The inbox: a received instance's bytes, held while its study collects, encrypted at rest.

What is on disk follows the de-identification rule (no readable identifiers): until the study is filed
(then de-identified like every upload) the instance is kept only as AES-256-GCM ciphertext under
`dicom-inbox/` in the private media storage, with a key that never enters the database
(AIRSPACE_DICOM_INBOX_KEY, else one derived from SECRET_KEY). On the filesystem each file is fsynced
before the receipt commits, so an acknowledged instance survives a crash. Holding the bytes in PostgreSQL
instead cost ~140 ms per full-resolution instance (WAL of 6 MB); a file ~20 ms, written while the receipt's transaction runs (services/receive.py, bench/dicom.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.utils import timezone
from django.utils.crypto import salted_hmac

_NONCE_BYTES = 12
_PREFIX = "dicom-inbox/"


def _cipher() -> AESGCM:
    secret = settings.AIRSPACE_DICOM_INBOX_KEY
    key = (
        hashlib.sha256(secret.encode()).digest()
        if secret
        else salted_hmac("airspace.dicom.inbox", "v1", algorithm="sha256").digest()
    )
    return AESGCM(key)


def inbox_name() -> str:
    """A new inbox file name (random: never derived from the instance)."""
    return f"{_PREFIX}{uuid.uuid4().hex}.enc"


def inbox_write(data: bytes, name: str = "") -> str:
    """Encrypt and store the bytes durably under `name` (a new one if blank); the storage name."""
    nonce = os.urandom(_NONCE_BYTES)
    name = name or inbox_name()
    blob = nonce + _cipher().encrypt(nonce, data, name.encode())
    if not isinstance(default_storage, FileSystemStorage):  # object storage: durable once the PUT returns
        return default_storage.save(name, ContentFile(blob))
    # One write and an fsync (Storage.save writes 64 kB chunks and never syncs); the name is new (uuid4).
    path = default_storage.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_all(descriptor, blob)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return name


def _write_all(descriptor: int, blob: bytes) -> None:
    view = memoryview(blob)
    while view:
        view = view[os.write(descriptor, view) :]


def inbox_read(name: str) -> bytes:
    """The held bytes (the name is authenticated with them: a file swapped for another fails)."""
    with default_storage.open(name, "rb") as handle:
        blob = handle.read()
    return _cipher().decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], name.encode())


def inbox_delete(name: str) -> None:
    """Forget held bytes (after filing, or when their receipt did not commit)."""
    if name:
        default_storage.delete(name)


def inbox_sweep(*, older_than_seconds: int = 3600) -> int:
    """Delete inbox files that no instance row names and that are older than an hour: a receipt killed
    between its fsync and its commit (never acknowledged, so the sender sends it again). How many went."""
    from pacs.models import ReceivedInstance

    try:
        _, files = default_storage.listdir(_PREFIX.rstrip("/"))
    except FileNotFoundError:
        return 0
    referenced = set(ReceivedInstance.objects.exclude(held_file="").values_list("held_file", flat=True))
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    orphans = [
        _PREFIX + name
        for name in files
        if _PREFIX + name not in referenced and default_storage.get_modified_time(_PREFIX + name) < cutoff
    ]
    for name in orphans:
        inbox_delete(name)
    return len(orphans)
