"""The media part of a backup: every stored file copied with its sha256, or a bucket manifest only."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage, default_storage

from backups.services.errors import BackupError

MEDIA_DIR = "media"


def file_sha256(path: Path) -> str:
    """sha256 of a file, streamed."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _storage_names(storage: Storage, folder: str = "") -> Iterator[str]:
    """Every file name in a storage, recursively (works for the file system and S3 alike)."""
    folders, files = storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}" if folder else name
    for sub in folders:
        yield from _storage_names(storage, f"{folder}/{sub}" if folder else sub)


def media_backup(*, out_dir: Path, storage: Storage = default_storage) -> dict[str, Any]:
    """Copy local media into out_dir/media; for an object store, list every object with its sha256."""
    files: dict[str, str] = {}
    local = isinstance(storage, FileSystemStorage)
    if local and not Path(storage.location).exists():
        return {"mode": "files", "files": files}
    for name in sorted(_storage_names(storage)):
        if local:
            source = Path(storage.path(name))
            target = out_dir / MEDIA_DIR / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            files[name] = file_sha256(target)
        else:
            with storage.open(name, "rb") as handle:
                files[name] = hashlib.file_digest(handle, "sha256").hexdigest()
    # An object store is backed up by its own versioning/replication; the manifest proves what it held.
    return {"mode": "files" if local else "bucket-manifest", "files": files}


def media_restore(*, backup_dir: Path, entry: dict[str, Any], storage: Storage = default_storage) -> int:
    """Copy the media back into an empty media folder (or check the bucket); returns the file count."""
    files: dict[str, str] = entry["files"]
    if entry["mode"] == "bucket-manifest":
        missing = [name for name in files if not storage.exists(name)]
        if missing:
            raise BackupError(
                f"{len(missing)} objects of the bucket manifest are missing, e.g. {missing[0]}."
            )
        return len(files)
    if not isinstance(storage, FileSystemStorage):
        raise BackupError("This backup holds media files; restore them into a local media folder.")
    root = Path(storage.location)
    if root.exists() and any(p.is_file() for p in root.rglob("*")):
        raise BackupError(f"The media folder {root} is not empty; restore into a fresh one.")
    for name, digest in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(backup_dir / MEDIA_DIR / name, target)
        if file_sha256(target) != digest:
            raise BackupError(f"{name}: restored bytes differ from the backup's sha256.")
    return len(files)
