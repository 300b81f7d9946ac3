"""`manage.py export_reviewed --out DIR`: reviewed studies as a de-identified labelled data set."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from modelops.services.dataset_export import DEIDENTIFICATION, dataset_export
from portal.errors import DomainError


class Command(BaseCommand):
    help = (
        "Write every study with a signed (current) radiologist read as images/ + labels.csv + manifest.json "
        "into an empty folder, de-identified, for retraining. The export is recorded as dataset.export."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="an empty or new folder")
        parser.add_argument("--model-version", default=None, help="only reads of this model version's output")
        parser.add_argument(
            "--since", type=dt.date.fromisoformat, help="reads signed on or after (YYYY-MM-DD)"
        )
        parser.add_argument(
            "--until", type=dt.date.fromisoformat, help="reads signed on or before (YYYY-MM-DD)"
        )
        parser.add_argument("--user", default="", help="username recorded as the actor (default: system)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Export, then print what was written."""
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user named {options['user']!r}.")
        try:
            summary = dataset_export(
                out_dir=options["out"],
                actor=actor,
                model_version=options["model_version"],
                since=options["since"],
                until=options["until"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        labels = ", ".join(f"{k} {v}" for k, v in summary.labels.items()) or "none"
        self.stdout.write(
            f"Exported {summary.studies} reviewed studies ({labels}) to {summary.out_dir}; "
            f"manifest sha256 {summary.manifest_sha256}."
        )
        self.stdout.write(DEIDENTIFICATION)
