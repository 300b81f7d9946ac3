"""`manage.py restore --from DIR`: a backup into a fresh database and media folder, then audit_verify."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backups.services.backups import backup_restore
from backups.services.errors import BackupError


class Command(BaseCommand):
    help = (
        "Restore a `manage.py backup` folder into the configured database (it must be empty: createdb "
        "first, and connect as the owner), media folder (empty) and anchor file; check every sha256 "
        "first, then the row counts and the audit chain. Re-run `manage.py db_roles` afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, type=Path, help="the backup folder")

    def handle(self, *args: Any, **options: Any) -> None:
        """Restore; a broken audit chain after the restore is exit status 1."""
        try:
            summary = backup_restore(backup_dir=options["source"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(summary.counts.values())
        self.stdout.write(
            f"Restored {rows} rows and {summary.media_files} media files from {options['source']}."
        )
        if not summary.audit_ok:
            raise CommandError(f"Audit trail does not verify after the restore: {summary.audit_problems[:5]}")
        self.stdout.write("audit_verify: OK")
