"""Print the API permission matrix (Markdown for docs/API.md), or check that every route has a rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.api.matrix import matrix_markdown, missing_entries

BEGIN, END = "<!-- permission-matrix:begin -->", "<!-- permission-matrix:end -->"


class Command(BaseCommand):
    help = "Render the API permission matrix (endpoint x role) from portal/api/matrix.py."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--markdown", action="store_true", help="print the Markdown table")
        parser.add_argument(
            "--write", metavar="FILE", help=f"replace the table between {BEGIN} and {END} in FILE"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if missing := missing_entries():
            raise CommandError("Routes without a matrix rule: " + ", ".join(missing))
        table = matrix_markdown()
        if options["write"]:
            self._write(Path(options["write"]), table)
        elif options["markdown"]:
            self.stdout.write(table, ending="")
        else:
            self.stdout.write(
                f"Every /api/v1/ route has a rule ({table.count(chr(10)) - 2} endpoint-method rows)."
            )

    def _write(self, path: Path, table: str) -> None:
        path = path if path.is_absolute() else Path(settings.BASE_DIR) / path
        text = path.read_text()
        if BEGIN not in text or END not in text:
            raise CommandError(f"{path} has no {BEGIN} ... {END} markers")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")
        self.stdout.write(f"Wrote the permission matrix into {path}")
