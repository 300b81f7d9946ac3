"""`manage.py dicom_listen`: receive studies over DICOM (C-STORE SCP, C-ECHO) from registered nodes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from pacs.scp import dicom_listen


class Command(BaseCommand):
    help = (
        "Listen for DICOM associations as AIRSPACE_DICOM_AE_TITLE on AIRSPACE_DICOM_PORT (default 11112); only "
        "inbound nodes registered with `manage.py dicom_node add ... --inbound` may store."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.AIRSPACE_DICOM_BIND, help="address to listen on")
        parser.add_argument("--port", type=int, default=settings.AIRSPACE_DICOM_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        """Serve until stopped (SIGTERM or Ctrl-C)."""
        self.stdout.write(
            f"DICOM receiver {settings.AIRSPACE_DICOM_AE_TITLE} on {options['bind']}:{options['port']}",
            ending="\n",
        )
        self.stdout.flush()
        try:
            dicom_listen(bind=options["bind"], port=options["port"])
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
