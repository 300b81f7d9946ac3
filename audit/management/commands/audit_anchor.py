"""`manage.py audit_anchor`: sign the audit chain head with the HMAC key kept outside the database."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit.services.events import audit_anchor
from audit.services.settings_audit import settings_audit


class Command(BaseCommand):
    help = (
        "Sign the audit chain head (HMAC with AIRSPACE_AUDIT_HMAC_KEY), store the anchor in the database "
        "and append it to AIRSPACE_AUDIT_ANCHOR_FILE, after recording any change of the audited settings "
        "(settings.changed). Celery beat runs this every AIRSPACE_AUDIT_ANCHOR_SECONDS (10 s); every commit also "
        "signs its own last event at once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        """Anchor the head, or say why not."""
        changed = settings_audit()
        if changed is not None and changed.before is None:
            self.stdout.write("Recorded the first settings snapshot (settings.changed).")
        elif changed is not None:
            self.stdout.write(f"Recorded settings.changed: {', '.join(changed.after['changed'])}.")
        try:
            anchor = audit_anchor()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if anchor is None:
            self.stdout.write("Nothing to anchor: the audit trail is empty.")
            return
        self.stdout.write(
            f"Anchored event {anchor.event_id} (head {anchor.head_hash[:16]}…) signed at "
            f"{anchor.created_at:%Y-%m-%d %H:%M:%S} UTC; copy appended to {settings.AIRSPACE_AUDIT_ANCHOR_FILE}."
        )
