"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server.

Screenshots go to $AIRSPACE_ARTIFACTS/screenshots/ (default artifacts/screenshots/), kept by CI as artifacts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("AIRSPACE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery"  # the password tests/conftest.py gives every user
# A real worker on two busy cores: the first prediction includes loading the model.
RESULT_TIMEOUT_MS = 180_000


def screenshot_dir() -> Path:
    root = Path(os.environ.get("AIRSPACE_ARTIFACTS") or ROOT / "artifacts")
    path = root / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _require_browser() -> None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).is_file():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("browser tests need the playwright package (pip install -e '.[dev]')")


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, live_server: Any) -> Iterator[Any]:
    """A fresh headless Chromium page whose relative URLs go to the live server."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
    # browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(20_000)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        # A Content-Security-Policy violation (inline script or style) is reported on the console.
        tab.on(
            "console",
            lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        tab.js_errors = errors
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under the artifacts folder and return its path."""
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def login(page: Any, username: str) -> None:
    """Log in through the real form, starting from `/` as a visitor would."""
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("domcontentloaded")
