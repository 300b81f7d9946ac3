"""`manage.py site_calibrate --from-reviews | --data DIR`: fit this site's operating profile, report it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mlcore.site_calibration import FitSettings
from modelops.selectors import active_bundle
from modelops.services.calibration import (
    figures_table,
    reads_from_folder,
    reads_from_reviews,
    site_calibrate,
)
from portal.errors import DomainError


def _cell(entry: dict[str, float] | None) -> str:
    if not entry:
        return "-"
    return f"{entry['value']:.3f} ({entry['ci_low']:.3f}-{entry['ci_high']:.3f})"


class Command(BaseCommand):
    help = (
        "Fit an operating profile (temperature, bias, threshold, indeterminate band) for the served model on "
        "this site's signed reads (--from-reviews) or a labelled folder (--data DIR with NORMAL/ and "
        "PNEUMONIA/), print before/after sensitivity, specificity, ECE and indeterminate share estimated by "
        "cross-validation over patients with bootstrap 95% CIs, and store it as a proposed profile; "
        "--activate makes it the active one. Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--from-reviews", action="store_true", help="the current signed reads")
        source.add_argument("--data", type=Path, help="a folder with NORMAL/ and PNEUMONIA/ images")
        parser.add_argument(
            "--since", type=dt.date.fromisoformat, help="reads signed on or after (YYYY-MM-DD)"
        )
        parser.add_argument("--target-sensitivity", type=float, default=0.95)
        parser.add_argument("--activate", action="store_true", help="make the new profile the active one")
        parser.add_argument(
            "--override-reason",
            default="",
            help="required to activate a profile whose cross-validated sensitivity is below its target",
        )
        parser.add_argument("--user", default="", help="username recorded as the actor (default: system)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Gather the reads, fit, store (and activate), then print the figures."""
        target = options["target_sensitivity"]
        if not 0.5 <= target < 1.0:
            raise CommandError("--target-sensitivity must be at least 0.5 and below 1.")
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user named {options['user']!r}.")
        bundle = active_bundle()
        try:
            if options["data"]:
                from mlcore.inference import load_predictor  # the model only for a folder

                reads = reads_from_folder(directory=options["data"], predictor=load_predictor(bundle.path))
            else:
                reads = reads_from_reviews(bundle=bundle, since=options["since"])
            profile = site_calibrate(
                bundle=bundle,
                reads=reads,
                settings=FitSettings(target_sensitivity=target),
                activate=options["activate"],
                override_reason=options["override_reason"],
                user=actor,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self._report(profile)

    def _report(self, profile: Any) -> None:
        sample = profile.metrics["sample"]
        state = "active" if profile.active else "proposed (not active)"
        self.stdout.write(
            f"Profile #{profile.pk} for {profile.model_version}, {state}: T={profile.temperature:.4f} "
            f"bias={profile.bias:+.4f} threshold={profile.threshold:.4f} "
            f"band=[{profile.indeterminate_low:.4f}, {profile.indeterminate_high:.4f}]"
        )
        self.stdout.write(
            f"Reads: {sample['reads']} ({sample['normal']} NORMAL, {sample['pneumonia']} PNEUMONIA) of "
            f"{sample['patients']} patients; {profile.metrics['method']['estimate']}."
        )
        self.stdout.write(f"{'figure':<20} {'before':<24} {'after (cross-validated)':<24} change")
        for row in figures_table(profile):
            self.stdout.write(
                f"{row['figure']:<20} {_cell(row['before']):<24} {_cell(row['after']):<24} {_cell(row['delta'])}"
            )
