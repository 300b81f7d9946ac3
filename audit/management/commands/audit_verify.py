"""`manage.py audit_verify`: walk the audit hash chain and check every HMAC anchor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services.events import audit_record, audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail: recompute every event hash and link, and check each anchor's HMAC "
        "(database, the anchor file, and any --anchors copies). Exit 0 and print OK when intact; exit 1 "
        "naming the first broken event otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchors",
            action="append",
            default=[],
            type=Path,
            help="an extra copy of the anchor file (e.g. the one shipped to write-once storage); repeatable",
        )
        parser.add_argument("--max-problems", type=int, default=50, help="problems listed (default 50)")
        parser.add_argument(
            "--no-record", action="store_true", help="do not append an audit.verify event for this check"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Print the verdict; a broken chain raises CommandError (exit status 1)."""
        report = audit_verify(anchor_files=options["anchors"])
        if not options["no_record"]:
            audit_record(
                actor=None,
                action="audit.verify",
                object_type="audit",
                after={"ok": report.ok, "events": report.checked, "problems": len(report.problems)},
            )
        if report.ok:
            self.stdout.write(
                f"OK: {report.checked} events, hash chain intact; {report.anchors_checked} anchors verified "
                f"(newest covers up to event {report.last_anchored_id}; {report.unanchored} newer "
                f"event{'' if report.unanchored == 1 else 's'} "
                f"not yet anchored)."
            )
            if not report.anchors_checked and report.checked:
                self.stdout.write("WARNING: no anchors yet; run `manage.py audit_anchor` (beat does it).")
            return
        shown = report.problems[: options["max_problems"]]
        self.stderr.write(
            f"AUDIT TRAIL BROKEN: {len(report.problems)} problem(s) in {report.checked} events."
        )
        for problem in shown:
            self.stderr.write(f"  - {problem}")
        if len(report.problems) > len(shown):
            self.stderr.write(f"  ... and {len(report.problems) - len(shown)} more")
        raise CommandError(f"first problem: {report.problems[0]}")
