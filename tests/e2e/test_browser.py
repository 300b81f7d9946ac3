"""The four browser journeys, in Chromium, against a live server on PostgreSQL, Redis and a real Celery worker.

1. A clinician uploads a real X-ray and sees the result and heatmap appear without a reload.
2. A radiologist claims it from the worklist and overrides it with a reason.
3. An admin finds both events in the audit page and exports them.
4. A non-chest image ends as rejected, with its reason shown.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from audit.models import AuditEvent
from diagnosis.models import Study
from diagnosis.services.studies import StudyUpload, study_create
from reading.models import Review
from reading.services.claims import reading_claim_take
from reading.services.reviews import review_submit
from tests.conftest import wait_for_status, xray_paths
from tests.e2e.conftest import RESULT_TIMEOUT_MS, login, screenshot_dir, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.services]


@pytest.fixture
def shipped_model() -> None:
    """The journeys that run the real worker need the shipped model bundle."""
    from django.conf import settings

    from tests.fixtures.bundles import shipped_bundle

    chosen = settings.AIRSPACE_MODEL_BUNDLE  # AIRSPACE_MODEL_BUNDLE, if set, is what the worker loads too
    usable = (Path(chosen) / "serving.json").is_file() if chosen else shipped_bundle() is not None
    if not usable:
        pytest.skip("needs the shipped model bundle (models/CURRENT naming a bundle with serving artifacts)")


def completed_by_worker(user: Any, mrn: str) -> Study:
    """A study uploaded through the service and analysed by the real worker."""
    path = xray_paths()[-1]
    upload = StudyUpload(
        image_name=path.name, image_data=path.read_bytes(), patient_mrn=mrn, patient_name="Test Child"
    )
    study = study_create(user=user, upload=upload).study
    return wait_for_status(study.id, ("completed",), timeout=RESULT_TIMEOUT_MS / 1000)


def test_1_clinician_uploads_and_sees_result_and_heatmap_without_reload(
    shipped_model: None, celery_worker: Any, page: Any, alice: Any
) -> None:
    login(page, "alice")
    page.get_by_role("link", name="New study").first.click()
    page.get_by_label("Patient MRN").fill("E2E-0001")
    page.get_by_label("Patient name").fill("Test Child")
    pneumonia = [path for path in xray_paths() if path.parent.name == "PNEUMONIA"]
    page.locator('input[type="file"][name="image"]').set_input_files(str(pneumonia[0]))
    page.get_by_role("progressbar").wait_for()
    shot(page, "01-clinician-upload")
    page.get_by_role("button", name="Upload and analyse").click()
    page.wait_for_url(re.compile(r"/studies/[0-9a-f-]{36}/$"))
    # A marker on the window survives only if the page is never reloaded.
    page.evaluate("window.__noReload = true")
    page.locator(".verdict-label").wait_for(timeout=RESULT_TIMEOUT_MS)
    assert page.evaluate("window.__noReload") is True
    result = page.locator("#side-panel").inner_text()
    assert "not a diagnosis" in result and "Site operating point" in result
    assert "Preliminary — not yet read by a radiologist" in result
    # The result panel can arrive one poll before the status badge catches up.
    page.locator('#study-status [data-status="completed"]').wait_for()
    study = Study.objects.get(patient__mrn="E2E-0001")
    if study.predictions.get().label != "PNEUMONIA":
        pytest.skip("the shipped model called this pneumonia film Normal: no heatmap to show")
    # The heatmap is opt-in: off and not even fetched until the reader turns it on.
    assert page.locator("#heatmap").is_hidden() and page.locator("#heatmap").get_attribute("src") is None
    page.get_by_label("Show heatmap").check()
    page.wait_for_function(
        "() => { const h = document.getElementById('heatmap'); return h && h.complete && h.naturalWidth > 0; }"
    )
    assert page.locator("#heatmap-legend").is_visible()
    assert "evidence for pneumonia" in page.locator("#viewer-caption").inner_text()
    shot(page, "01-clinician-result")
    # Viewer: keyboard zoom and pan on the focused stage, heatmap shortcut, then a drag with the mouse.
    stage = page.locator("[data-viewer]")
    stage.focus()
    for key in ("+", "+", "+", "ArrowLeft"):
        page.keyboard.press(key)
    assert float(page.get_by_label("Zoom", exact=True).input_value()) > 1.5
    assert "scale(" in page.locator("[data-pan]").get_attribute("style")
    page.keyboard.press("h")
    assert page.locator("#heatmap").is_hidden()
    page.keyboard.press("h")
    box = stage.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2 + 30)
    page.mouse.up()
    page.get_by_label("Opacity").fill("70")
    page.wait_for_selector('[data-viewer][data-state="full"]')  # full resolution in: window on its values
    page.get_by_label("Level", exact=True).fill("120")
    page.get_by_label("Window", exact=True).fill("180")
    page.get_by_label("Window", exact=True).press("Tab")
    assert page.locator("[data-viewer]").get_attribute("data-window") == "120 180 0"
    shot(page, "01-clinician-viewer-zoomed", full_page=False)
    study.refresh_from_db()
    prediction = study.predictions.get()
    assert study.status == "completed" and prediction.heatmap and prediction.get_label_display() in result
    actions = set(
        AuditEvent.objects.filter(object_id__in=[str(study.id), str(prediction.id)]).values_list(
            "action", flat=True
        )
    )
    assert {"study.upload", "study.view", "prediction.create"} <= actions
    assert not page.js_errors


def test_2_radiologist_claims_from_worklist_and_overrides_with_a_reason(
    shipped_model: None, celery_worker: Any, page: Any, alice: Any, carol: Any
) -> None:
    study = completed_by_worker(alice, "E2E-0002")
    ai_label = study.predictions.get().label
    final = "NORMAL" if ai_label == "PNEUMONIA" else "PNEUMONIA"
    login(page, "carol")
    assert page.url.endswith("/worklist/")
    row = page.locator("tr", has_text="E2E-0002")
    shot(page, "02-radiologist-worklist")
    row.get_by_role("button", name="Claim and read").click()
    page.wait_for_url(f"**/studies/{study.id}/")
    assert "being read by you" in page.locator("#review-panel").inner_text()
    page.locator("body").press("o")  # keyboard shortcut: override
    page.get_by_label("Final label (override)").select_option(final)
    page.get_by_label("Reason (override)").select_option("image_quality")
    page.get_by_label("Note").fill("Rotated film; re-read on a repeat view.")
    shot(page, "02-radiologist-override")
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_url("**/worklist/")  # nothing else waits: signing would otherwise open the next study
    assert "Signed" in page.locator(".messages").inner_text()
    review = Review.objects.get(study=study)
    assert (review.decision, review.final_label, review.reason, review.reviewer) == (
        "override",
        final,
        "image_quality",
        carol,
    )
    assert study.predictions.get().label == ai_label  # the AI output is untouched
    assert AuditEvent.objects.filter(action="study.claim", object_id=str(study.id), actor=carol).count() == 1
    assert (
        AuditEvent.objects.get(action="review.sign", object_id=str(study.id)).after["decision"] == "override"
    )
    assert not page.js_errors


def test_3_admin_finds_the_claim_and_override_in_the_audit_and_exports_them(
    shipped_model: None, celery_worker: Any, page: Any, alice: Any, carol: Any, admin_user: Any
) -> None:
    study = completed_by_worker(alice, "E2E-0003")
    reading_claim_take(user=carol, study=study)
    review_submit(user=carol, study=study, decision="override", final_label="NORMAL", reason="false_alarm")
    login(page, "root-admin")
    assert page.url.endswith("/audit/")
    page.get_by_label("Object id").fill(str(study.id))
    page.get_by_role("button", name="Filter").click()
    table = page.locator("#audit-table")
    table.get_by_text("review.sign").wait_for()
    assert "study.claim" in table.inner_text() and "carol" in table.inner_text()
    shot(page, "03-admin-audit")
    with page.expect_download() as caught:
        page.get_by_role("link", name=re.compile("Export CSV")).click()
    download = caught.value
    saved = screenshot_dir().parent / "audit-export.csv"
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert {"study.claim", "review.sign"} <= {r["action"] for r in rows}
    assert all(r["object_id"] == str(study.id) for r in rows) and any(
        r["actor_username"] == "carol" for r in rows
    )
    assert AuditEvent.objects.filter(action="audit.export", actor=admin_user).count() == 1
    assert not page.js_errors


def test_4_non_chest_image_ends_rejected_with_its_reason_shown(
    shipped_model: None, celery_worker: Any, page: Any, alice: Any, tmp_path: Any
) -> None:
    from tests.fixtures.hostile import encode, photo

    picture = tmp_path / "holiday.png"
    picture.write_bytes(encode(photo(), "PNG"))
    login(page, "alice")
    page.get_by_role("link", name="New study").first.click()
    page.get_by_label("Patient MRN").fill("E2E-0004")
    page.locator('input[type="file"][name="image"]').set_input_files(str(picture))
    page.get_by_role("button", name="Upload and analyse").click()
    page.wait_for_url(re.compile(r"/studies/[0-9a-f-]{36}/$"))
    page.locator(".rejected-reason").wait_for(timeout=RESULT_TIMEOUT_MS)
    study = Study.objects.get(patient__mrn="E2E-0004")
    assert study.status == "rejected" and study.error_code and study.status_reason
    assert study.status_reason in page.locator(".rejected-reason").inner_text()
    assert page.locator("#study-status [data-status]").get_attribute("data-status") == "rejected"
    assert not study.predictions.exists()
    assert AuditEvent.objects.filter(action="study.rejected", object_id=str(study.id)).count() == 1
    shot(page, "04-rejected")
    assert not page.js_errors


def test_pages_fit_a_tablet_and_have_no_script_errors(
    services: None, page: Any, alice: Any, admin_user: Any
) -> None:
    """768 px wide: no page scrolls sideways (wide tables scroll inside their own box)."""
    from tests.diagnosis.factories import completed_study

    study = completed_study(created_by=alice, probability=0.8)
    page.set_viewport_size({"width": 768, "height": 1024})
    login(page, "root-admin")
    paths = ("/studies/", "/studies/new/", f"/studies/{study.id}/", "/worklist/", "/audit/", "/model/")
    for path in paths:
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{path} overflows by {overflow}px at 768 px"
        if path == f"/studies/{study.id}/":
            shot(page, "05-tablet-study")
    page.goto("/studies/new/")
    shot(page, "05-tablet-upload")
    assert not page.js_errors


def test_upload_page_validates_then_uploads_several_files_with_progress_and_duplicate_warning(
    services: None, page: Any, alice: Any, tmp_path: Any
) -> None:
    """Several files at once through the API (one study each), per-file outcome, and the duplicate warning."""
    login(page, "alice")
    page.goto("/studies/new/")
    page.get_by_role("button", name="Upload and analyse").click()
    summary = page.locator("#error-summary")
    assert summary.is_visible() and "Enter the patient's MRN." in summary.inner_text()
    assert "Choose at least one X-ray file." in summary.inner_text()
    assert page.get_by_label("Patient MRN").get_attribute("aria-invalid") == "true"
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_bytes(b"%PDF-1.7 this is a letter, not an X-ray")
    first, second = xray_paths()[0], xray_paths()[1]
    page.get_by_label("Patient MRN").fill("E2E-MULTI")
    page.locator('input[type="file"][name="image"]').set_input_files(
        [str(first), str(second), str(not_an_image)]
    )
    assert page.locator(".queue-item").count() == 3
    page.get_by_role("button", name="Upload and analyse").click()
    page.locator(".queue-item.failed").wait_for()
    page.wait_for_function("() => document.querySelectorAll('.queue-item.ok').length === 2")
    assert "not" in page.locator(".queue-item.failed").inner_text().lower()
    assert page.locator(".queue-item.ok progress").first.get_attribute("value") == "100"
    # The batch is done: the form forgets the patient, so the next files cannot go to them by default.
    assert page.get_by_label("Patient MRN").input_value() == ""
    assert "Patient and study details cleared" in page.locator("#patient-lookup").inner_text()
    # The same image again: accepted, with a warning that links the earlier study.
    page.get_by_label("Patient MRN").fill("E2E-MULTI")
    page.get_by_label("Patient MRN").blur()
    page.get_by_text("Existing patient").wait_for()  # the lookup line settles before the button is clicked
    page.locator('input[type="file"][name="image"]').set_input_files(str(first))
    page.get_by_role("button", name="Upload and analyse").click()
    page.locator(".dup").wait_for()
    shot(page, "06-upload-several-files")
    studies = Study.objects.filter(patient__mrn="E2E-MULTI").order_by("created_at")
    assert studies.count() == 3 and studies[2].duplicate_of_id == studies[0].id
    assert page.locator(".dup a").get_attribute("href") == f"/studies/{studies[0].id}/"
    assert AuditEvent.objects.filter(action="study.upload", actor=alice).count() == 3
    assert not page.js_errors


def test_study_page_swaps_in_the_result_and_announces_it_when_the_status_changes(
    services: None, page: Any, alice: Any
) -> None:
    """The live update itself, without a model: the row changes underneath an open page."""
    from django.core.files.base import ContentFile

    from tests.diagnosis.factories import ImageFactory, PredictionFactory, StudyFactory, png_bytes

    study = StudyFactory(created_by=alice, status=Study.Status.QUEUED)
    ImageFactory(study=study)
    login(page, "alice")
    page.goto(f"/studies/{study.id}/")
    page.evaluate("window.__noReload = true")
    assert "Waiting for the analysis" in page.locator("#side-panel").inner_text()
    prediction = PredictionFactory(study=study, probability=0.81, label="PNEUMONIA", threshold=0.5)
    prediction.heatmap.save("heatmap.png", ContentFile(png_bytes()), save=True)
    Study.objects.filter(id=study.id).update(status=Study.Status.COMPLETED)
    page.locator(".verdict-label").wait_for()
    page.get_by_label("Show heatmap").check()
    page.wait_for_function(
        "() => document.getElementById('heatmap') && document.getElementById('heatmap').naturalWidth > 0"
    )
    page.wait_for_function(
        "() => document.getElementById('announcer').textContent.includes('Analysis complete')"
    )
    assert page.evaluate("window.__noReload") is True
    assert "0.810" in page.locator("#side-panel").inner_text()
    assert not page.js_errors


def test_dashboard_row_updates_itself_when_its_study_completes(services: None, page: Any, alice: Any) -> None:
    """The clinician's list: status badge and AI result change in place, and the change is announced."""
    from tests.diagnosis.factories import ImageFactory, PredictionFactory, StudyFactory

    study = StudyFactory(created_by=alice, status=Study.Status.PROCESSING)
    ImageFactory(study=study)
    login(page, "alice")
    row = page.locator(f'tr[data-study="{study.id}"]')
    assert "Processing" in row.inner_text() and "Pneumonia" not in row.inner_text()
    PredictionFactory(study=study, probability=0.91, label="PNEUMONIA", threshold=0.5)
    Study.objects.filter(id=study.id).update(status=Study.Status.COMPLETED)
    page.wait_for_function(
        f"() => document.querySelector('tr[data-study=\"{study.id}\"]').textContent.includes('Pneumonia')"
    )
    assert "Preliminary AI" in row.inner_text() and "Completed" in row.inner_text()
    page.wait_for_function("() => document.getElementById('announcer').textContent.includes('Completed')")
    assert not page.js_errors


def test_radiologist_reads_with_the_keyboard_agree_and_next(
    services: None, page: Any, alice: Any, carol: Any
) -> None:
    """'a' then Enter signs and opens the next study; 'n' skips one and gives its claim back."""
    from tests.diagnosis.factories import completed_study

    first = completed_study(created_by=alice, probability=0.97)
    second = completed_study(created_by=alice, probability=0.81)
    third = completed_study(created_by=alice, probability=0.71)
    login(page, "carol")
    page.get_by_role("button", name="Read next study").click()
    page.wait_for_url(f"**/studies/{first.id}/")
    page.locator("body").press("a")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Sign"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/studies/{second.id}/")  # the next study, not the worklist
    review = Review.objects.get(study=first)
    assert (review.decision, review.final_label, review.reviewer) == ("agree", "PNEUMONIA", carol)
    assert (
        page.get_by_role("link", name="Open that study again").get_attribute("href")
        == f"/studies/{first.id}/"
    )
    second.refresh_from_db()
    assert second.reading_claimed_by == carol
    page.locator("body").press("n")
    page.wait_for_url(f"**/studies/{third.id}/")
    second.refresh_from_db()
    assert second.reading_claimed_by is None  # skipped: given back, not held for 15 minutes
    assert (
        AuditEvent.objects.filter(action="study.release", object_id=str(second.id), actor=carol).count() == 1
    )
    assert not page.js_errors


def test_files_dropped_on_the_drop_zone_are_uploaded(services: None, page: Any, alice: Any) -> None:
    """Drag and drop: a real DataTransfer with an X-ray file, dropped on the zone, then uploaded."""
    import base64

    login(page, "alice")
    page.goto("/studies/new/")
    page.get_by_label("Patient MRN").fill("E2E-DROP")
    payload = base64.b64encode(xray_paths()[2].read_bytes()).decode()
    transfer = page.evaluate_handle(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], "dropped.jpg", { type: "image/jpeg" }));
            return data;
        }""",
        payload,
    )
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": transfer})
    assert "dragging" in page.locator("#dropzone").get_attribute("class")
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    assert "dropped.jpg" in page.locator(".queue-item").inner_text()
    page.get_by_role("button", name="Upload and analyse").click()
    page.wait_for_url(re.compile(r"/studies/[0-9a-f-]{36}/$"))
    study = Study.objects.get(patient__mrn="E2E-DROP")
    assert study.images.get().original_filename == "dropped.jpg"
    assert not page.js_errors


def test_several_files_as_views_of_one_study(services: None, page: Any, alice: Any) -> None:
    """'One study with several views': one upload, the first file analysed, the others stored with it."""
    login(page, "alice")
    page.goto("/studies/new/")
    page.get_by_label("Patient MRN").fill("E2E-VIEWS")
    page.get_by_label("One study with several views").check()
    files = [str(path) for path in xray_paths()[3:6]]
    page.locator('input[type="file"][name="image"]').set_input_files(files)
    page.get_by_role("button", name="Upload and analyse").click()
    # One study came of it, so the page opens it, as for a single file.
    page.wait_for_url(re.compile(r"/studies/[0-9a-f-]{36}/$"))
    study = Study.objects.get(patient__mrn="E2E-VIEWS")
    assert page.url.endswith(f"/studies/{study.id}/")
    names = list(study.images.order_by("created_at").values_list("original_filename", flat=True))
    assert names == [Path(f).name for f in files]
    assert "3 views; the AI analysed the one shown" in page.locator("main").inner_text()
    assert not page.js_errors
