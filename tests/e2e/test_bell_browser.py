"""The bell's unread count in Chromium: it updates without a reload while the tab is visible, and a hidden
tab asks nothing until it is shown again (#19). Chromium's clock is Playwright's: 30 s pass on demand.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from notifications.models import Kind
from notifications.services.fanout import notification_event_record
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COUNT_PATH = "/notifications/unread-count/"
# A getter the page can flip, since headless Chromium is always "visible".
VISIBILITY = """() => {
  window.__visibility = "visible";
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => window.__visibility });
}"""
SET_VISIBILITY = """(state) => {
  window.__visibility = state;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def signed_read(*, clinician: Any, radiologist: Any) -> None:
    """A read signed for the clinician's study and its notification recorded (what the worker does)."""
    study = completed_study(created_by=clinician)
    review = review_submit(user=radiologist, study=study, decision="agree")
    notification_event_record(kind=Kind.READ_SIGNED, study_id=study.id, source_key=str(review.id))


def test_the_bell_counts_new_notifications_without_a_reload_only_while_the_tab_is_visible(
    page: Any, alice: Any, carol: Any
) -> None:
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if urlsplit(r.url).path == COUNT_PATH else None)
    page.clock.install()
    login(page, "alice")
    count = page.locator("#bell .bell-count")
    expect(count).to_have_text("0")
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloaded
    page.evaluate(VISIBILITY)

    signed_read(clinician=alice, radiologist=carol)
    page.clock.run_for(29_000)
    assert count.inner_text() == "0" and not polls  # not before 30 s
    page.clock.run_for(2_000)
    expect(count).to_have_text("1")
    expect(page.locator("#bell")).to_have_class("bell bell-unread")
    expect(page.locator("#announcer")).to_have_text("1 unread notification")
    assert len(polls) == 1

    # Hidden: two minutes pass and nothing is asked; shown again: asked at once.
    page.evaluate(SET_VISIBILITY, "hidden")
    signed_read(clinician=alice, radiologist=carol)
    page.clock.run_for(120_000)
    assert len(polls) == 1 and count.inner_text() == "1"
    page.evaluate(SET_VISIBILITY, "visible")
    expect(count).to_have_text("2")
    assert len(polls) == 2 and page.evaluate("() => window.__sameDocument === true")
    assert not page.js_errors


def test_a_signed_out_tab_stops_polling(page: Any, alice: Any) -> None:
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if urlsplit(r.url).path == COUNT_PATH else None)
    page.clock.install()
    login(page, "alice")
    page.context.clear_cookies()  # signed out elsewhere: the poll is sent to the login page
    with page.expect_response(lambda r: "/login/" in r.url):
        page.clock.run_for(31_000)
    page.wait_for_timeout(500)  # the answer is read: not JSON, so the bell stops asking
    page.clock.run_for(300_000)
    assert len(polls) == 1 and page.locator("#bell .bell-count").inner_text() == "0"
    assert not page.js_errors
