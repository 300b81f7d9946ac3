"""`manage.py drift_check`: raise the drift alarms the live figures call for (beat runs it hourly)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from modelops.services.drift import drift_check, open_alerts


class Command(BaseCommand):
    help = (
        "Compare each active operating profile's live sensitivity/specificity against the reads, and its "
        "output distribution, with what justified it; raise an audited admin alert for each breach."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        """Check, then list the open alerts."""
        raised = drift_check()
        self.stdout.write(f"Raised {len(raised)} new alert(s).")
        for alert in open_alerts():
            self.stdout.write(
                f"open: #{alert.pk} {alert.get_kind_display()} (profile #{alert.profile_id}) {alert.observed}"
            )
