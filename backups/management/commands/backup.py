"""`manage.py backup --out DIR`: database dump, media (or bucket manifest), audit anchors, manifest.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backups.services.backups import backup_create
from backups.services.errors import BackupError


class Command(BaseCommand):
    help = (
        "Back up the portal into a new or empty folder: the database (pg_dump custom format, or a SQLite "
        "copy on the embedded default), every media file with its sha256 (an object store: a manifest of "
        "its objects), the audit anchor file, the model bundle versions and manifest.json. Restore with "
        "`manage.py restore --from DIR` (docs/RELIABILITY.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="a new or empty folder")

    def handle(self, *args: Any, **options: Any) -> None:
        """Back up, then say what was written."""
        try:
            summary = backup_create(out_dir=options["out"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = summary.manifest
        self.stdout.write(
            f"Backed up to {summary.out_dir}: database ({manifest['database']['engine']}, "
            f"{manifest['database']['file']}), {len(manifest['media']['files'])} media files "
            f"({manifest['media']['mode']}), {manifest['audit']['events']} audit events, anchors "
            f"{'copied' if manifest['anchors']['file'] else 'none yet'}; manifest.json lists every sha256."
        )
