"""Issue #16 in Chromium: the radiologist's read comes first, honest numbers, an opt-in heatmap, and reads a
radiologist can actually give. Each journey saves a screenshot (tests/e2e/publish_screenshots.py copies
them to docs/screenshots/ for the README).

The studies are built from committed fixtures (real downscaled films, a wrist radiograph, a heatmap drawn by
mlcore) so these run without the model or a worker.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from PIL import Image as PILImage

from audit.models import AuditEvent
from diagnosis.models import Study
from mlcore.heatmap import heatmap_png
from modelops.services.monitoring import monitoring_report
from reading.models import Review
from reading.services.claims import reading_claim_take
from tests.conftest import FIXTURE_XRAYS, ROOT
from tests.diagnosis.factories import ImageFactory, PredictionFactory, StudyFactory
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.services]

WRIST = ROOT / "tests" / "fixtures" / "not_chest" / "wrist.jpg"
PNEUMONIA_FILM = sorted((FIXTURE_XRAYS / "PNEUMONIA").glob("*.jp*g"))[0]
NORMAL_FILM = sorted((FIXTURE_XRAYS / "NORMAL").glob("*.jp*g"))[0]


def lung_cam() -> np.ndarray:
    """A 7x7 class activation map peaking over the right lower zone (as a real CAM would look)."""
    y, x = np.mgrid[0:7, 0:7]
    return np.exp(-((x - 1.8) ** 2 + (y - 4.2) ** 2) / 2.0).astype(np.float32)


def film_study(
    *,
    created_by: Any,
    film: Path,
    probability: float,
    threshold: float = 0.5,
    indeterminate: bool = False,
    mrn: str,
    name: str = "Test Child",
) -> Study:
    """A completed study of a real film with the AI output given (label at the threshold) and its heatmap."""
    data = film.read_bytes()
    with PILImage.open(io.BytesIO(data)) as picture:
        width, height = picture.size
    study = StudyFactory(
        created_by=created_by, status=Study.Status.COMPLETED, patient__mrn=mrn, patient__name=name
    )
    ImageFactory(
        study=study,
        file=ContentFile(data, name="film.jpg"),
        format="JPEG",
        width=width,
        height=height,
        original_filename=film.name,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
    )
    label = "PNEUMONIA" if probability >= threshold else "NORMAL"
    prediction = PredictionFactory(
        study=study, probability=probability, label=label, threshold=threshold, indeterminate=indeterminate
    )
    prediction.heatmap.save("heatmap.png", ContentFile(heatmap_png(lung_cam(), (width, height))), save=True)
    return study


def test_clinician_view_before_and_after_an_override(
    services: None, page: Any, alice: Any, carol: Any
) -> None:
    """Before a read: a preliminary AI result. After a radiologist overrides it: the final read leads."""
    study = film_study(created_by=alice, film=NORMAL_FILM, probability=0.991, mrn="MRN-1601")
    login(page, "alice")
    page.goto(f"/studies/{study.id}/")
    panel = page.locator("#side-panel")
    assert "Preliminary — not yet read by a radiologist" in panel.inner_text()
    assert page.locator("#heatmap").is_hidden()
    shot(page, "safety-01-before-read", full_page=False)
    page.context.clear_cookies()

    login(page, "carol")
    page.goto("/worklist/")
    page.get_by_role("button", name="Claim and read").first.click()
    page.wait_for_url(f"**/studies/{study.id}/")
    page.locator("body").press("o")
    # The AI's own label cannot be chosen as an "override".
    assert page.locator('#id_final_label option[value="PNEUMONIA"]').is_disabled()
    page.get_by_label("Final label (override)").select_option("NORMAL")
    page.get_by_label("Reason (override)").select_option("false_alarm")
    page.get_by_label("Note").fill("Clear lungs; no consolidation.")
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_url("**/worklist/")
    review = Review.objects.get(study=study)
    assert (review.decision, review.final_label, review.ai_label) == ("override", "NORMAL", "PNEUMONIA")
    page.context.clear_cookies()

    login(page, "alice")
    page.goto(f"/studies/{study.id}/")
    text = panel.inner_text()
    assert text.index("Final read") < text.index("AI result")
    final = page.locator("#final-read")
    assert "Normal" in final.inner_text() and "carol" in final.inner_text()
    superseded = page.locator("details#ai-result")
    assert superseded.get_attribute("open") is None and "superseded" in superseded.inner_text()
    assert not page.locator("#ai-result .verdict-label").is_visible()  # collapsed until asked for
    assert page.locator("[data-heatmap-toggle]").count() == 0  # a Pneumonia map contradicts the final read
    shot(page, "safety-02-after-override", full_page=False)
    page.goto("/studies/")
    row = page.locator(f'tr[data-study="{study.id}"]')
    assert "Normal" in row.inner_text() and "final read" in row.inner_text()
    assert "Preliminary" not in row.inner_text()
    assert not page.js_errors


def test_indeterminate_result_and_its_summary_step_before_signing(
    services: None, page: Any, alice: Any, carol: Any
) -> None:
    """Headed 'Indeterminate — needs a closer look'; 'a' then Enter shows what would be signed, no more."""
    study = film_study(
        created_by=alice,
        film=PNEUMONIA_FILM,
        probability=0.71,
        threshold=0.773,
        indeterminate=True,
        mrn="MRN-1602",
    )
    login(page, "alice")
    page.goto(f"/studies/{study.id}/")
    verdict = page.locator("#ai-result .verdict")
    assert verdict.inner_text().strip() == "Indeterminate — needs a closer look"
    assert "verdict-indeterminate" in verdict.get_attribute("class")
    assert "confidence in Normal 0.290" in page.locator("#side-panel").inner_text()
    shot(page, "safety-03-indeterminate", full_page=False)
    page.context.clear_cookies()

    login(page, "carol")
    reading_claim_take(user=carol, study=study)
    page.goto(f"/studies/{study.id}/")
    page.locator("body").press("a")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/studies/{study.id}/review/")
    assert "You are about to sign" in page.locator("main").inner_text()
    page.keyboard.press("Enter")  # focus is on the heading: a further Enter signs nothing
    page.wait_for_timeout(300)
    assert not Review.objects.filter(study=study).exists()
    shot(page, "safety-04-indeterminate-confirm", full_page=False)
    page.get_by_role("button", name="Confirm and sign").click()
    page.wait_for_url("**/worklist/")
    assert Review.objects.get(study=study).final_label == "NORMAL"
    assert not page.js_errors


def test_wrist_radiograph_read_as_not_a_chest_xray_is_left_out_of_monitoring_and_export(
    services: None, page: Any, alice: Any, carol: Any, admin_user: Any, tmp_path: Path
) -> None:
    """A wrist film the gate let through, called Pneumonia: the radiologist signs it non-diagnostic."""
    wrist = film_study(created_by=alice, film=WRIST, probability=0.88, mrn="MRN-1603")
    chest = film_study(created_by=alice, film=NORMAL_FILM, probability=0.1, mrn="MRN-1604")
    login(page, "carol")
    page.goto("/worklist/")
    page.locator("tr", has_text="MRN-1603").get_by_role("button", name="Claim and read").click()
    page.wait_for_url(f"**/studies/{wrist.id}/")
    page.locator("body").press("o")
    page.get_by_label("Final label (override)").select_option("NON_DIAGNOSTIC")
    reasons = page.locator("#id_reason option:not([disabled])").all_inner_texts()
    assert "Model false alarm" not in reasons and "Not a chest X-ray / wrong input" in reasons
    page.get_by_label("Reason (override)").select_option("wrong_input")
    page.get_by_label("Note").fill("Wrist radiograph uploaded to the wrong request.")
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_url(f"**/studies/{chest.id}/")  # signing opens the next study
    page.locator("body").press("a")
    page.keyboard.press("Enter")
    page.wait_for_url("**/worklist/")
    read = Review.objects.get(study=wrist)
    assert (read.final_label, read.reason) == ("NON_DIAGNOSTIC", "wrong_input")
    page.goto(f"/studies/{wrist.id}/")
    final = page.locator("#final-read").inner_text()
    assert "Non-diagnostic" in final and "Not a chest X-ray / wrong input" in final
    shot(page, "safety-05-wrist-non-diagnostic", full_page=False)

    # Not a false positive of the AI: out of the accuracy figures, counted apart.
    (model,) = monitoring_report(models_dir=tmp_path)["models"]
    assert model["confusion"] == {"tp": 0, "fp": 0, "fn": 0, "tn": 1}
    assert model["non_diagnostic"]["by_reason"]["wrong_input"] == 1
    page.context.clear_cookies()
    login(page, "root-admin")
    page.goto("/monitoring/")
    row = page.locator("tr", has_text="Non-diagnostic reads")
    assert "not a chest X-ray / wrong input 1" in row.inner_text()
    # Not exported as a training image.
    call_command("export_reviewed", "--out", str(tmp_path / "set"), stdout=io.StringIO())
    with (tmp_path / "set" / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["final_label"] for row in rows] == ["NORMAL"]
    assert AuditEvent.objects.filter(action="review.sign", object_id=str(wrist.id)).count() == 1
    assert not page.js_errors


def test_heatmap_is_off_by_default_and_shows_its_legend_when_turned_on(
    services: None, page: Any, alice: Any, carol: Any
) -> None:
    """The radiologist's first look has no heatmap; 'h' turns it on with a legend that says what it is."""
    study = film_study(created_by=alice, film=PNEUMONIA_FILM, probability=0.93, mrn="MRN-1605")
    login(page, "carol")
    page.goto(f"/studies/{study.id}/")
    overlay = page.locator("#heatmap")
    assert overlay.is_hidden() and overlay.get_attribute("src") is None
    assert not page.get_by_label("Show heatmap").is_checked()
    assert page.locator("#heatmap-legend").is_hidden()
    assert not AuditEvent.objects.filter(action="heatmap.download").exists()  # not even fetched
    page.locator("body").press("h")
    page.wait_for_function("() => document.getElementById('heatmap').naturalWidth > 0")
    legend = page.locator("#heatmap-legend")
    assert legend.is_visible() and "Weaker evidence for pneumonia" in legend.inner_text()
    assert "not a probability" in legend.inner_text()
    assert page.get_by_label("Show heatmap").is_checked()
    assert AuditEvent.objects.filter(action="heatmap.download", actor=carol).count() == 1
    page.locator("#viewer-panel").scroll_into_view_if_needed()
    shot(page, "safety-06-heatmap-legend", full_page=False)
    page.locator("body").press("h")
    assert overlay.is_hidden() and legend.is_hidden()
    assert not page.js_errors


def test_conflicting_patient_upload_needs_an_explicit_confirmation(
    services: None, page: Any, alice: Any
) -> None:
    """MRN-3001 is on file as someone else: the batch is held, nothing on file is shown, then confirmed."""
    from diagnosis.models import Patient

    on_file = Patient.objects.create(
        mrn="MRN-3001", name="Jane Doe", birth_date="2021-03-04", created_by=alice
    )
    login(page, "alice")
    page.goto("/studies/new/")
    page.get_by_label("Patient MRN").fill("MRN-3001")
    page.get_by_label("Patient name").fill("John Smith")
    page.get_by_label("Birth date").fill("2020-01-01")
    page.locator('input[type="file"][name="image"]').set_input_files([str(NORMAL_FILM), str(PNEUMONIA_FILM)])
    page.get_by_role("button", name="Upload and analyse").click()
    panel = page.locator("#patient-conflict")
    panel.wait_for()
    text = panel.inner_text()
    assert "MRN-3001 is already on file with a different name and birth date" in text
    assert "Jane" not in text and "2021" not in text  # the details on file are not revealed
    assert not Study.objects.exists()  # held, not filed
    assert page.locator(".queue-item", has_text="Held").count() == 1  # the rest of the batch waits
    shot(page, "safety-07-patient-conflict", full_page=False)
    page.get_by_role("button", name="File under the patient on file").click()
    page.wait_for_function("() => document.querySelectorAll('.queue-item.ok').length === 2")
    studies = Study.objects.filter(patient=on_file)
    assert studies.count() == 2 and all(s.warnings == ["patient_details_differ_confirmed"] for s in studies)
    on_file.refresh_from_db()
    assert (on_file.name, str(on_file.birth_date)) == ("Jane Doe", "2021-03-04")  # never overwritten
    assert AuditEvent.objects.filter(action="patient.mismatch_confirmed", actor=alice).count() == 2
    assert "you confirmed" in page.locator("#upload-queue").inner_text()
    assert not page.js_errors
