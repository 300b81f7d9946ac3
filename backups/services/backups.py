"""`backup_create` and `backup_restore`: the database, the media, the audit anchors and a manifest.

Order matters for consistency without stopping the portal:
1. record `backup.create` in the audit trail (so the backup itself is in the chain it carries);
2. copy the anchor file BEFORE the dump: every anchor line is written after its event commits, so each
   copied line names an event the later dump snapshot holds (an unanchored tail is fine, a dangling
   anchor would read as tampering after a restore);
3. dump the database;
4. copy the media AFTER the dump: every image row in the dump already had its file written.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record, audit_verify
from backups.services.database_dump import database_dump, database_is_empty, database_restore
from backups.services.errors import BackupError
from backups.services.media_copy import file_sha256, media_backup, media_restore

FORMAT = "airspace-backup/1"
ANCHORS_FILE = "audit-anchors.jsonl"


@dataclass(frozen=True)
class BackupSummary:
    out_dir: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class RestoreSummary:
    counts: dict[str, int]
    media_files: int
    audit_ok: bool
    audit_problems: list[str]


def model_counts(alias: str = "default") -> dict[str, int]:
    """Rows per model (app_label.model), the yardstick a restore is checked against."""
    return {
        model._meta.label_lower: model._default_manager.using(alias).count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


def _bundles() -> dict[str, Any]:
    """Which model bundle is served and every shipped bundle's version (bundles ship with the code)."""
    models_dir = Path(settings.BASE_DIR) / "models"
    current = settings.AIRSPACE_MODEL_BUNDLE or (models_dir / "CURRENT").read_text().strip()
    shipped = {}
    for meta in sorted(models_dir.glob("*/metadata.json")):
        data = json.loads(meta.read_text())
        shipped[meta.parent.name] = {"version": data.get("version"), "sha256": data.get("sha256")}
    return {"served": str(current), "shipped": shipped}


def _audit_head() -> dict[str, Any]:
    from audit.models import AuditEvent

    head = AuditEvent.objects.order_by("-id").values("id", "hash").first() or {}
    return {"events": AuditEvent.objects.count(), "head_id": head.get("id"), "head_hash": head.get("hash")}


def backup_create(*, out_dir: Path, actor: Any = None, context: AuditContext = SYSTEM) -> BackupSummary:
    """Write database dump, anchors, media and manifest.json into a new or empty folder."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BackupError(f"{out_dir} is not empty; choose a new folder.")
    out_dir.mkdir(parents=True, exist_ok=True)
    audit_record(
        actor=actor,
        action="backup.create",
        object_type="backup",
        after={"out_dir": str(out_dir.resolve())},
        context=context,
    )
    anchors = Path(settings.AIRSPACE_AUDIT_ANCHOR_FILE)
    if anchors.exists():
        shutil.copy2(anchors, out_dir / ANCHORS_FILE)
    counts, audit_head = model_counts(), _audit_head()  # before the dump: rows may only be added after
    database = database_dump(out_dir=out_dir)
    media = media_backup(out_dir=out_dir)
    manifest = {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "database": database,
        "media": media,
        "anchors": {"file": ANCHORS_FILE if anchors.exists() else None, "source": str(anchors)},
        "bundles": _bundles(),
        "migrations": sorted(MigrationRecorder.Migration.objects.values_list("app", "name")),
        "counts_at_least": counts,
        "audit": audit_head,
        "sha256": {
            str(p.relative_to(out_dir)): file_sha256(p) for p in sorted(out_dir.rglob("*")) if p.is_file()
        },
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    return BackupSummary(out_dir=out_dir, manifest=manifest)


def backup_check(backup_dir: Path) -> dict[str, Any]:
    """Read manifest.json and check every file's sha256; a damaged backup is refused before anything changes."""
    manifest_path = backup_dir / "manifest.json"
    if not manifest_path.is_file():
        raise BackupError(f"{backup_dir} has no manifest.json: not an Airspace backup.")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r} (expected {FORMAT}).")
    for name, digest in manifest["sha256"].items():
        path = backup_dir / name
        if not path.is_file() or file_sha256(path) != digest:
            raise BackupError(f"{name}: missing or damaged (sha256 differs from the manifest).")
    return manifest


def backup_restore(*, backup_dir: Path, context: AuditContext = SYSTEM) -> RestoreSummary:
    """Restore into the configured (fresh) database, media folder and anchor file; then verify the trail."""
    manifest = backup_check(backup_dir)
    if not database_is_empty():
        raise BackupError(
            "The database is not empty: create a fresh one (createdb) and point DATABASE_URL at it."
        )
    database_restore(dump=backup_dir / manifest["database"]["file"], entry=manifest["database"])
    connections["default"].close()
    media_files = media_restore(backup_dir=backup_dir, entry=manifest["media"])
    _restore_anchors(backup_dir, manifest)
    counts = model_counts()
    short = {label: n for label, n in manifest["counts_at_least"].items() if counts.get(label, 0) < n}
    if short:
        raise BackupError(f"Restored database is missing rows: {short}")
    report = audit_verify()
    audit_record(
        actor=None,
        action="backup.restore",
        object_type="backup",
        after={"created_at": manifest["created_at"], "audit_ok": report.ok, "media_files": media_files},
        context=context,
    )
    return RestoreSummary(
        counts=counts, media_files=media_files, audit_ok=report.ok, audit_problems=report.problems
    )


def _restore_anchors(backup_dir: Path, manifest: dict[str, Any]) -> None:
    """Put the anchor copy where this deployment keeps its anchor file (never over a different one)."""
    name = manifest["anchors"]["file"]
    if not name:
        return
    target = Path(settings.AIRSPACE_AUDIT_ANCHOR_FILE)
    source = backup_dir / name
    if target.exists() and target.stat().st_size and target.read_bytes() != source.read_bytes():
        raise BackupError(f"{target} already holds other anchors; move it away before restoring.")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
