"""Issue #19 in Chromium: the signed report (PDF text, before and after an amendment), a notification reaching
the clinician through a real worker, and an admin creating a radiologist who then sets a password and logs in.
"""

from __future__ import annotations

import email
import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from diagnosis.models import Department
from notifications.models import EmailState, Notification
from notifications.services.fanout import notification_event_record
from reading.models import Report
from reading.services.reviews import review_submit
from tests.conftest import start_worker, stop_worker
from tests.e2e.conftest import login, shot
from tests.e2e.test_accessibility import audited_tab, axe_violations, sign_in  # noqa: F401 (a fixture)
from tests.e2e.test_safety_browser import PNEUMONIA_FILM, film_study

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_for(check: Callable[[], Any], timeout: float = 90) -> Any:
    """Poll until check() is truthy (a worker on two busy cores)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out waiting for the worker")


@pytest.fixture
def outbox(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """A real Celery worker whose email backend writes each message to a file in the returned folder."""
    folder = tmp_path / "outbox"
    worker = start_worker(
        settings, env={"AIRSPACE_EMAIL_FILE_PATH": str(folder)}, log_name="e2e-notify-worker"
    )
    try:
        yield folder
    finally:
        stop_worker(worker)


def mails(folder: Path) -> list[email.message.Message]:
    """The messages the file backend wrote (each file ends with a line of dashes)."""
    if not folder.is_dir():
        return []
    texts = [p.read_text() for p in sorted(folder.iterdir())]
    return [email.message_from_string(t.rsplit("\n" + "-" * 79, 1)[0]) for t in texts]


def body(message: email.message.Message) -> str:
    return message.get_payload(decode=True).decode()


def pdf_text(path: str) -> str:
    reader = PdfReader(io.BytesIO(Path(path).read_bytes()))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def sign_agree(page: Any, study_id: Any, note: str) -> None:
    page.goto(f"/studies/{study_id}/")
    page.get_by_label("Agree with AI").check()
    page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_load_state("domcontentloaded")


def download_pdf(page: Any, link_name: str) -> str:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    return pdf_text(info.value.path())


def test_signed_report_pdf_and_print_view_before_and_after_an_amendment(
    page: Any, alice: Any, carol: Any
) -> None:
    study = film_study(
        created_by=alice, film=PNEUMONIA_FILM, probability=0.93, mrn="MRN-1901", name="Ada Byron"
    )
    study.clinical_notes = "Fever and cough for five days; crackles right base."
    study.accession_number = "ACC-19-001"
    study.save()
    login(page, "carol")
    sign_agree(page, study.id, "Right lower lobe consolidation.")
    page.context.clear_cookies()

    login(page, "alice")
    page.goto(f"/studies/{study.id}/")
    page.get_by_role("link", name="Signed report").click()
    page.wait_for_url(f"**/studies/{study.id}/report/")
    assert page.get_by_role("heading", name="Chest X-ray report — signed").is_visible()
    wait_for(lambda: page.locator(".report-images img").evaluate_all("i => i.every(x => x.naturalWidth > 0)"))
    assert page.locator(".report-images img").count() == 2  # without and with the heatmap
    page.emulate_media(media="print")
    assert page.locator(".report-controls").is_hidden() and page.locator(".topbar").is_hidden()
    assert page.locator("#bell").is_hidden()
    shot(page, "report-01-print-view")
    page.emulate_media(media="screen")
    text = download_pdf(page, "Download PDF")
    for expected in (
        "MRN-1901",
        "Ada Byron",
        "ACC-19-001",
        "Fever and cough for five days",
        "Final read Pneumonia",
        "Right lower lobe consolidation.",
        "AI result — decision support",
        "Model version test-model",
        "With the AI heatmap",
        "Report version 1",
    ):
        assert expected in text, expected
    page.context.clear_cookies()

    login(page, "carol")
    page.goto(f"/studies/{study.id}/")
    page.locator("body").press("o")
    page.get_by_label("Final label (override)").select_option("NORMAL")
    page.get_by_label("Reason (override)").select_option("false_alarm")
    page.get_by_label("Reason for amending").fill("Second look: the opacity is the thymus.")
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_load_state("domcontentloaded")
    assert list(Report.objects.filter(study=study).values_list("version", "status")) == [
        (2, "current"),
        (1, "superseded"),
    ]
    page.context.clear_cookies()

    login(page, "alice")
    page.goto(f"/studies/{study.id}/report/")
    assert "v1 (superseded)" in page.locator(".report-controls").inner_text()
    amended = download_pdf(page, "Download PDF")
    assert "Report version 2" in amended and "Final read Normal" in amended
    assert "Second look: the opacity is the thymus." in amended and "Amendment history" in amended
    assert "With the AI heatmap" not in amended  # the read no longer confirms the AI's Pneumonia
    shot(page, "report-02-amended-history")
    page.get_by_role("link", name="v1").click()
    assert page.get_by_role("alert").filter(has_text="Superseded").is_visible()
    assert "Final read Pneumonia" in download_pdf(page, "Download PDF")
    assert not page.js_errors


def test_a_signed_read_reaches_the_clinician_in_the_bell_and_by_email(
    page: Any, alice: Any, carol: Any, outbox: Path
) -> None:
    alice.email = "alice@hospital.example"
    alice.save()
    study = film_study(created_by=alice, film=PNEUMONIA_FILM, probability=0.88, mrn="MRN-1902")
    login(page, "carol")
    sign_agree(page, study.id, "Consolidation, left base.")
    wait_for(lambda: Notification.objects.filter(recipient=alice, email_state=EmailState.SENT).exists())
    page.context.clear_cookies()

    login(page, "alice")
    bell = page.locator("#bell")
    assert bell.locator(".bell-count").inner_text() == "1"
    shot(page, "notify-01-bell", full_page=False)
    bell.click()
    page.wait_for_url("**/notifications/")
    item = page.locator(".notification.unread")
    assert "Read signed: Pneumonia (MRN MRN-1902)" in item.inner_text() and "carol" in item.inner_text()
    shot(page, "notify-02-list", full_page=False)
    item.get_by_role("button", name=re.compile("Read signed")).click()
    page.wait_for_url(f"**/studies/{study.id}/")
    assert page.locator("#bell .bell-count").inner_text() == "0"
    [message] = mails(outbox)
    assert message["To"] == "alice@hospital.example" and f"/studies/{study.id}/" in body(message)
    assert "MRN-1902" not in body(message)  # the email names no patient
    assert not page.js_errors


def test_an_admin_creates_a_radiologist_who_sets_a_password_and_logs_in(
    page: Any, admin_user: Any, outbox: Path
) -> None:
    Department.objects.create(name="Radiology")
    login(page, "root-admin")
    page.get_by_role("link", name="Users").click()
    page.wait_for_url("**/users/")
    page.get_by_role("link", name="New user").click()
    page.get_by_label("Username").fill("rita")
    page.get_by_label("First name").fill("Rita")
    page.get_by_label("Last name").fill("Reader")
    page.get_by_label("Email").fill("rita@hospital.example")
    page.get_by_label("Radiologist").check()
    page.get_by_label("Department").select_option(label="Radiology")
    shot(page, "users-01-create-radiologist")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_url(re.compile(r".*/users/\d+/$"))
    assert "Created rita" in page.locator(".messages").inner_text()
    page.get_by_role("button", name="Email a link to set a password").click()
    page.wait_for_load_state("domcontentloaded")
    [message] = wait_for(lambda: mails(outbox))
    assert message["To"] == "rita@hospital.example"
    link = re.search(r"https?://[^/\s]+(/password/set/\S+/)", body(message)).group(1)
    page.goto("/users/?role=radiologist")
    assert "rita" in page.locator("#users-table").inner_text()
    page.context.clear_cookies()

    page.goto(link)
    assert page.get_by_role("heading", name="Set your password").is_visible()
    page.locator("#id_new_password1").fill("Xr4y-reading-room")
    page.locator("#id_new_password2").fill("Xr4y-reading-room")
    page.get_by_role("button", name="Set password").click()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("Xr4y-reading-room")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/worklist/")
    assert "rita · radiologist" in page.locator(".who").inner_text()
    shot(page, "users-02-radiologist-first-login", full_page=False)
    assert not page.js_errors


@pytest.mark.services
def test_report_notification_and_user_pages_have_no_serious_accessibility_violations(
    audited_tab: Any,  # noqa: F811 - the fixture imported above
    alice: Any,
    carol: Any,
    admin_user: Any,
) -> None:
    study = film_study(created_by=alice, film=PNEUMONIA_FILM, probability=0.9, mrn="MRN-1903")
    review = review_submit(user=carol, study=study, decision="agree")
    notification_event_record(kind="read_signed", study_id=study.id, source_key=str(review.id))
    pages = {
        "alice": [f"/studies/{study.id}/report/", "/notifications/", "/notifications/preferences/"],
        "root-admin": ["/users/", "/users/new/", f"/users/{carol.pk}/"],
    }
    problems = {}
    for who, paths in pages.items():
        audited_tab.context.clear_cookies()
        sign_in(audited_tab, who)
        for path in paths:
            audited_tab.goto(path)
            problems[path] = axe_violations(audited_tab)
    found = {path: issues for path, issues in problems.items() if issues}
    if found:
        shot(audited_tab, "a11y-failure-report")
    assert not found, found
