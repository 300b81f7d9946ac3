"""The image holds every Airspace app the settings install (a missing COPY fails only at container start)."""

from __future__ import annotations

from django.conf import settings

from tests.conftest import ROOT


def test_the_dockerfile_copies_every_installed_project_app() -> None:
    copied = {
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and len(line.split()) == 3
    }
    ours = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}
    assert ours and ours <= copied, sorted(ours - copied)
