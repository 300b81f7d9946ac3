"""The diagnostic viewer and a reading session in Chromium (#19).

A 16-bit DICOM (tests/fixtures/viewer/current.dcm) is windowed in the browser and the rendered pixels are
checked against the DICOM window formula on the stored values; a radiologist opens the worklist, reads the
study with the patient's prior side by side (linked zoom and pan), measures, windows and signs.
"""

from __future__ import annotations

import io
import json
import math
from datetime import date
from typing import Any

import numpy as np
import pydicom
import pytest
from django.core.files.base import ContentFile
from PIL import Image
from pydicom.dataset import Dataset

from audit.models import AuditEvent
from diagnosis.services.studies import StudyUpload, study_create
from reading.models import Review
from reading.services.reviews import review_submit
from tests.conftest import wait_for_status
from tests.diagnosis.factories import ImageFactory, film_study, patient_with_two_films
from tests.e2e.conftest import RESULT_TIMEOUT_MS, login, screenshot_dir, shot
from tests.e2e.test_browser import shipped_model  # noqa: F401 (a fixture: the real worker needs the bundle)
from tests.fixtures.dicoms import make_dicom, xray_pixels
from tests.fixtures.pages import with_heatmap
from tests.fixtures.viewer_dicoms import CURRENT, PRIOR

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CURRENT_PANE = '[data-pane="current"] [data-viewer]'
PRIOR_PANE = '[data-pane="prior"] [data-viewer]'


def window_linear(x: float, center: float, width: float) -> int:
    """DICOM PS3.3 C.11.2.1.2.1 (LINEAR) to 0..255, rounded half up as the viewer rounds."""
    if x <= center - 0.5 - (width - 1) / 2:
        return 0
    if x > center - 0.5 + (width - 1) / 2:
        return 255
    return math.floor(((x - (center - 0.5)) / (width - 1) + 0.5) * 255 + 0.5)


def probe_points(stored: np.ndarray) -> list[tuple[int, int]]:
    """(x, y) of pixels whose stored values lie below, across and above the windows the tests use."""
    points = []
    for target in (3000, 12000, 19000, 21000, 25000, 29000, 31000, 36000, 45000, 52000):
        y, x = np.unravel_index(np.argmin(np.abs(stored.astype(np.int64) - target)), stored.shape)
        points.append((int(x), int(y)))
    return points


def rendered(page: Any, pane: str, points: list[tuple[int, int]]) -> list[int]:
    """The red channel the canvas holds at each image pixel (the viewer paints gray: r = g = b)."""
    return page.eval_on_selector(
        f"{pane} canvas",
        "(c, pts) => pts.map(([x, y]) => c.getContext('2d').getImageData(x, y, 1, 1).data[0])",
        points,
    )


def wait_full(page: Any, pane: str) -> None:
    page.wait_for_selector(f'{pane}[data-state="full"]', timeout=30_000)


def test_a_16_bit_film_is_windowed_on_its_stored_values_as_the_dicom_formula_says(
    page: Any, alice: Any, carol: Any
) -> None:
    study = film_study(created_by=alice, data=CURRENT.read_bytes())
    stored = pydicom.dcmread(CURRENT).pixel_array
    points = probe_points(stored)
    values = [int(stored[y, x]) for x, y in points]
    login(page, "carol")
    page.goto(f"/studies/{study.id}/")
    wait_full(page, CURRENT_PANE)
    # 1. The file's own window (36000/40000) on the 16-bit values.
    assert (
        page.locator("#v-center").input_value() == "36000"
        and page.locator("#v-width").input_value() == "40000"
    )
    assert rendered(page, CURRENT_PANE, points) == [window_linear(v, 36000, 40000) for v in values]
    # 2. A narrow window typed in: every probed pixel follows the formula (some now clip to black or white).
    page.locator("#v-center").fill("20000")
    page.locator("#v-width").fill("4001")
    page.locator("#v-width").press("Tab")
    expected = [window_linear(v, 20000, 4001) for v in values]
    assert rendered(page, CURRENT_PANE, points) == expected and 0 in expected and 255 in expected
    assert len(set(expected) - {0, 255}) >= 1  # and at least one pixel lies inside the ramp
    # 3. Invert (i) flips the output; 0 resets to the file's window.
    stage = page.locator(CURRENT_PANE)
    stage.focus()
    page.keyboard.press("i")
    assert rendered(page, CURRENT_PANE, points) == [255 - e for e in expected]
    page.keyboard.press("0")
    assert rendered(page, CURRENT_PANE, points) == [window_linear(v, 36000, 40000) for v in values]
    # Shift+arrows window from the keyboard: up raises the level, right widens, by 2 % of the stored range.
    step = (int(stored.max()) - int(stored.min())) / 50
    page.keyboard.press("Shift+ArrowUp")
    page.keyboard.press("Shift+ArrowRight")
    center, width, _ = (float(v) for v in stage.get_attribute("data-window").split())
    assert (center, width) == pytest.approx((36000 + step, 40000 + step))
    assert rendered(page, CURRENT_PANE, points) == [window_linear(v, center, width) for v in values]
    page.keyboard.press("0")
    # 4. Right-drag windows too (left-right width, up-down level).
    box = stage.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down(button="right")
    page.mouse.move(cx + 80, cy - 40, steps=4)
    page.mouse.up(button="right")
    center, width, _ = (float(v) for v in stage.get_attribute("data-window").split())
    assert width > 40000 and center < 36000
    assert rendered(page, CURRENT_PANE, points) == [window_linear(v, center, width) for v in values]
    # 5. 1:1 puts one image pixel on one screen pixel; a 100 px drag measures 100 px x 0.25 mm = 25.0 mm.
    page.keyboard.press("1")
    assert "1:1" in page.locator(f"{CURRENT_PANE} [data-hud]").inner_text()
    assert round(page.locator(f"{CURRENT_PANE} canvas").bounding_box()["width"]) == 320
    page.keyboard.press("m")
    page.mouse.move(cx - 50, cy)
    page.mouse.down()
    page.mouse.move(cx + 50, cy, steps=5)
    page.mouse.up()
    assert stage.get_attribute("data-measure") == "25.0 mm"
    shot(page, "viewer-01-16bit-windowed-measured", full_page=False)
    page.keyboard.press("?")
    assert (
        page.locator("#viewer-help").is_visible()
        and "Window drag" in page.locator("#viewer-help").inner_text()
    )
    page.keyboard.press("Escape")
    assert AuditEvent.objects.filter(action="image.view", actor=carol, after__resolution="full").count() == 1
    assert not page.js_errors


def test_a_film_with_a_voi_lut_table_starts_on_the_table_until_a_window_is_set(
    page: Any, alice: Any, carol: Any
) -> None:
    stored = xray_pixels(12, index=7)
    table = np.round((np.arange(4096) / 4095) ** 0.5 * 65535).astype("<u2")  # a square-root display curve
    ds = pydicom.dcmread(io.BytesIO(make_dicom(stored, bits_stored=12)))
    lut = Dataset()
    lut.LUTDescriptor, lut.LUTData = [4096, 0, 16], table.tobytes()
    ds.VOILUTSequence = [lut]
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    study = film_study(created_by=alice, data=out.getvalue())
    points = probe_points(stored.astype(np.int64) * 16)  # the probe targets are on a 16-bit scale
    values = [int(stored[y, x]) for x, y in points]
    login(page, "carol")
    page.goto(f"/studies/{study.id}/")
    wait_full(page, CURRENT_PANE)
    assert page.locator(CURRENT_PANE).get_attribute("data-window") == "table 0"
    assert rendered(page, CURRENT_PANE, points) == [
        math.floor(int(table[v]) * 255 / 65535 + 0.5) for v in values
    ]
    assert "file's VOI LUT" in page.locator(f"{CURRENT_PANE} [data-hud]").inner_text()
    page.locator("#v-center").fill("1800")  # a typed window replaces the table
    page.locator("#v-width").press("Tab")
    assert rendered(page, CURRENT_PANE, points) == [window_linear(v, 1800, 4096) for v in values]
    assert not page.js_errors


def test_a_second_view_of_the_study_opens_in_the_same_pane_without_the_heatmap(
    page: Any, alice: Any, carol: Any
) -> None:
    study = with_heatmap(film_study(created_by=alice, data=CURRENT.read_bytes()))
    data = PRIOR.read_bytes()
    ImageFactory(
        study=study, format="DICOM", file=ContentFile(data, name="lat.dcm"), meta={"view_position": "LL"}
    )
    login(page, "carol")
    page.goto(f"/studies/{study.id}/")
    wait_full(page, CURRENT_PANE)
    page.get_by_label("Show heatmap").check()
    page.get_by_role("button", name="View 2 · LL").click()
    page.wait_for_function(
        "() => window.airspace.viewerPanes[0].data && window.airspace.viewerPanes[0].data.header.bits_stored === 12"
    )
    assert page.locator("#heatmap").is_hidden() and page.get_by_label("Show heatmap").is_disabled()
    assert "0.2 mm/px at the detector" in page.locator(f"{CURRENT_PANE} [data-hud]").inner_text()
    page.get_by_role("button", name="View 1 · analysed by the AI").click()
    wait_full(page, CURRENT_PANE)
    page.wait_for_function("() => window.airspace.viewerPanes[0].data.header.bits_stored === 16")
    assert page.locator("#heatmap").is_visible()
    assert not page.js_errors


def test_reading_session_worklist_prior_side_by_side_window_and_sign(
    page: Any, alice: Any, carol: Any, dave: Any
) -> None:
    prior, current = patient_with_two_films(created_by=alice)
    review_submit(user=dave, study=prior, decision="agree")  # last year's film was read: not on the worklist
    login(page, "carol")
    page.get_by_role("link", name="Worklist").click()
    row = page.locator("tbody tr", has_text="VIEW-0001")
    cells = row.inner_text()
    assert "5 y" in cells and "ACC-2026-0042" in cells and "Fever for three days" in cells
    shot(page, "viewer-02-worklist-age-accession-indication")
    row.get_by_role("button", name="Claim and read").click()
    page.wait_for_url(f"**/studies/{current.id}/")
    assert "age 5 y at study" in page.locator(".study-head").inner_text()
    priors = page.locator("#priors")
    assert "ACC-PRIOR-7" in priors.inner_text() and "4 y" in priors.inner_text()
    priors.get_by_role("link", name="Compare side by side").click()
    page.wait_for_url(f"**/studies/{current.id}/?compare={prior.id}*")
    wait_full(page, CURRENT_PANE)
    wait_full(page, PRIOR_PANE)
    # Linked zoom and pan: zooming and panning the current film moves the prior alike.
    page.locator(CURRENT_PANE).focus()
    for key in ("+", "+", "+", "ArrowLeft", "ArrowUp"):
        page.keyboard.press(key)
    views = page.evaluate("() => window.airspace.viewerPanes.map((p) => p.view)")
    assert views[0] == views[1] and views[0]["rel"] > 1.9
    # The prior is a 12-bit MONOCHROME1 film with a rescale and no window: full modality range, inverted
    # display (low stored values white), its detector spacing said as such.
    assert "0.2 mm/px at the detector" in page.locator(f"{PRIOR_PANE} [data-hud]").inner_text()
    header = page.evaluate("() => window.airspace.viewerPanes[1].data.header")
    assert header["photometric"] == "MONOCHROME1" and header["windows"][0]["source"] == "full range"
    # Window the 16-bit current film, then sign with the keyboard (a, then Enter).
    page.locator("#v-center").fill("40000")
    page.locator("#v-width").fill("24000")
    page.locator("#v-width").press("Tab")
    assert page.locator(CURRENT_PANE).get_attribute("data-window") == "40000 24000 0"
    shot(page, "viewer-03-prior-side-by-side", full_page=False)
    page.locator(CURRENT_PANE).focus()
    page.keyboard.press("a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    review = Review.objects.get(study=current)
    assert review.reviewer == carol and review.final_label == "PNEUMONIA"
    compared = AuditEvent.objects.filter(action="study.view", actor=carol, object_id=str(prior.id))
    assert compared.filter(after__compared_with=str(current.id)).exists()
    pixels = AuditEvent.objects.filter(action="image.view", actor=carol, after__resolution="full")
    assert {e.after["study"] for e in pixels} == {str(current.id), str(prior.id)}
    assert not page.js_errors


# Each pane's view, and the image point (as a fraction of the film) under its stage's centre and corners:
# linked panes must agree on both, so the same anatomy sits at the same place on screen.
PANE_GEOMETRY = """() => window.airspace.viewerPanes.map((p) => {
  const [w, h] = [p.stage.clientWidth, p.stage.clientHeight];
  const at = (x, y) => { const q = p.toImage(x, y); return [+(q.x / p.w).toFixed(6), +(q.y / p.h).toFixed(6)]; };
  return { view: { ...p.view }, transform: p.layer.style.transform,
           points: [at(w / 2, h / 2), at(0, 0), at(w, h)] };
})"""


def pane_geometry(page: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    current, prior = page.evaluate(PANE_GEOMETRY)
    return current, prior


def wheel_and_drag(page: Any, pane: str, *, notches: int, drag: tuple[int, int]) -> None:
    """Zoom in with the mouse wheel around a point off-centre, then drag to pan (the default tool)."""
    box = page.locator(pane).bounding_box()
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4
    page.mouse.move(x, y)
    for _ in range(notches):
        page.mouse.wheel(0, -100)
    page.mouse.down()
    page.mouse.move(x + drag[0], y + drag[1], steps=5)
    page.mouse.up()


def test_comparison_panes_zoom_and_pan_together_by_mouse_either_way_until_unlinked(
    page: Any, alice: Any, carol: Any
) -> None:
    prior, current = patient_with_two_films(created_by=alice)
    login(page, "carol")
    page.goto(f"/studies/{current.id}/?compare={prior.id}")
    wait_full(page, CURRENT_PANE)
    wait_full(page, PRIOR_PANE)
    link = page.get_by_label("Link zoom and pan")
    assert link.is_checked()  # linked from the start
    start_current, start_prior = pane_geometry(page)
    assert start_current["points"] == start_prior["points"]

    # 1. Wheel and drag on the prior: the current film follows, to the same view and the same image points.
    wheel_and_drag(page, PRIOR_PANE, notches=4, drag=(-60, -40))
    moved_current, moved_prior = pane_geometry(page)
    assert moved_prior["view"] != start_prior["view"] and moved_prior["view"]["rel"] > 1.7
    assert moved_current["view"] == moved_prior["view"]
    assert moved_current["points"] == moved_prior["points"]

    # 2. And the other way: the current film leads, the prior follows.
    wheel_and_drag(page, CURRENT_PANE, notches=2, drag=(80, 30))
    led_current, led_prior = pane_geometry(page)
    assert led_current["view"] != moved_current["view"]
    assert led_prior["view"] == led_current["view"] and led_prior["points"] == led_current["points"]
    shot(page, "viewer-04-linked-zoom-pan", full_page=False)

    # 3. Unlinked ("l" or the box): the current film moves alone and the prior stays where it was.
    page.locator(CURRENT_PANE).focus()
    page.keyboard.press("l")
    assert not link.is_checked()
    wheel_and_drag(page, CURRENT_PANE, notches=3, drag=(-100, 0))
    alone_current, alone_prior = pane_geometry(page)
    assert alone_current["view"] != led_current["view"] and alone_prior == led_prior

    # 4. Linked again: the prior joins the pane that was in use, at once.
    link.check()
    joined_current, joined_prior = pane_geometry(page)
    assert joined_current["view"] == alone_current["view"] == joined_prior["view"]
    assert joined_prior["points"] == joined_current["points"]
    assert not page.js_errors


def test_a_3000_px_film_shows_its_preview_first_then_full_resolution(
    page: Any, alice: Any, carol: Any
) -> None:
    """Prints the time to the preview and to the full-resolution canvas (figures, not asserted)."""
    small = xray_pixels(16, index=5).astype(np.float32)
    big = np.asarray(Image.fromarray(small, mode="F").resize((3000, 2500), Image.Resampling.BILINEAR))
    data = make_dicom(np.clip(big, 0, 65535).astype(np.uint16), bits_stored=16, window=(32000, 40000))
    study = film_study(created_by=alice, data=data)
    login(page, "carol")
    page.goto(f"/studies/{study.id}/")
    page.wait_for_function(
        "() => { const i = document.getElementById('xray'); return i.complete && i.naturalWidth > 0; }"
    )
    wait_full(page, CURRENT_PANE)
    timing = page.evaluate(
        """() => {
          const nav = performance.getEntriesByType('navigation')[0];
          const preview = performance.getEntriesByType('resource').find((r) => r.name.includes('/image/'));
          const pixels = performance.getEntriesByType('resource').find((r) => r.name.includes('/pixels/'));
          const full = performance.getEntriesByName('airspace:full:current')[0];
          return {page_ms: nav.responseEnd - nav.startTime, preview_ms: preview.responseEnd - nav.startTime, pixels_response_ms: pixels.responseEnd - nav.startTime,
                  pixels_bytes: pixels.encodedBodySize, full_ms: full.startTime - nav.startTime};
        }"""
    )
    natural = page.eval_on_selector(f"{CURRENT_PANE} canvas", "c => [c.width, c.height]")
    assert natural == [3000, 2500]  # the full resolution, not the preview's
    timing["dicom_bytes"] = len(data)
    (screenshot_dir().parent / "viewer-timing.json").write_text(json.dumps(timing, indent=2))
    print("\n3,000 x 2,500 16-bit film:", json.dumps({k: round(v) for k, v in timing.items()}))
    assert io.BytesIO(data).getbuffer().nbytes > 14_000_000 and not page.js_errors


@pytest.mark.usefixtures("shipped_model", "celery_worker")
def test_a_16_bit_dicom_analysed_by_the_real_worker_is_read_beside_its_prior(
    page: Any, alice: Any, carol: Any
) -> None:
    """The whole path: upload (validation, de-identification), the worker's prediction, then the read."""
    upload = StudyUpload(
        image_name="chest.dcm",
        image_data=CURRENT.read_bytes(),
        patient_mrn="MRN-0042",
        patient_name="Jane Doe",
        accession_number="ACC-LIVE-1",
    )
    created = study_create(user=alice, upload=upload).study
    study = wait_for_status(created.id, ("completed", "failed", "rejected"), timeout=RESULT_TIMEOUT_MS / 1000)
    assert study.status == "completed", study.status_reason
    prior = film_study(
        created_by=alice, data=PRIOR.read_bytes(), patient=study.patient, study_date=date(2025, 3, 1)
    )
    login(page, "carol")
    page.get_by_role("link", name="Worklist").click()
    page.locator("tbody tr", has_text="ACC-LIVE-1").get_by_role("button", name="Claim and read").click()
    page.wait_for_url(f"**/studies/{study.id}/")
    page.locator("#priors").get_by_role("link", name="Compare side by side").click()
    wait_full(page, CURRENT_PANE)
    wait_full(page, PRIOR_PANE)
    stored = pydicom.dcmread(CURRENT).pixel_array
    points = probe_points(stored)
    assert rendered(page, CURRENT_PANE, points) == [
        window_linear(int(stored[y, x]), 36000, 40000) for x, y in points
    ]
    page.locator(CURRENT_PANE).focus()
    page.keyboard.press("a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert Review.objects.get(study=study).reviewer == carol
    assert AuditEvent.objects.filter(action="study.view", object_id=str(prior.id), actor=carol).exists()
    assert not page.js_errors


def large_film(width: int, height: int) -> np.ndarray:
    """A 16-bit film of the given size from the fixture X-ray, with fine detail (every pixel differs)."""
    small = xray_pixels(16, index=5).astype(np.float32)
    big = np.asarray(Image.fromarray(small, mode="F").resize((width, height), Image.Resampling.BILINEAR))
    ramp = (np.arange(width)[None, :] + np.arange(height)[:, None]) % 7  # neighbours differ: sampling shows
    return np.clip(big + ramp * 97, 0, 65535).astype(np.uint16)


def canvas_at(page: Any, selector: str, points: list[tuple[int, int]]) -> list[int]:
    return page.eval_on_selector(
        selector,
        "(c, pts) => pts.map(([x, y]) => c.getContext('2d').getImageData(x, y, 1, 1).data[0])",
        points,
    )


def test_a_film_above_the_pixel_budget_opens_as_an_overview_then_full_resolution_in_view(
    page: Any, alice: Any, carol: Any, settings: Any
) -> None:
    settings.AIRSPACE_VIEWER_PIXEL_BUDGET = 300_000  # a 2,400 x 2,000 film stands for a 60 MP one
    stored = large_film(2400, 2000)
    study = film_study(created_by=alice, data=make_dicom(stored, bits_stored=16, window=(32000, 40000)))
    login(page, "carol")
    page.goto(f"/studies/{study.id}/")
    wait_full(page, CURRENT_PANE)
    overview = f"{CURRENT_PANE} canvas[data-canvas]"
    # 1. The overview: every 4th stored value (600 x 500 = the budget), stretched over the whole film.
    assert page.eval_on_selector(overview, "c => [c.width, c.height, c.style.width]") == [600, 500, "2400px"]
    assert "overview: 1 pixel in 4" in page.locator(f"{CURRENT_PANE} [data-hud]").inner_text()
    points = [(x - x % 4, y - y % 4) for x, y in probe_points(stored)]
    assert canvas_at(page, overview, [(x // 4, y // 4) for x, y in points]) == [
        window_linear(int(stored[y, x]), 32000, 40000) for x, y in points
    ]
    # 2. At 1:1 the region in view arrives at full resolution over it, on the same window.
    page.locator(CURRENT_PANE).focus()
    page.keyboard.press("1")
    page.wait_for_function(
        f"() => (document.querySelector('{CURRENT_PANE}').dataset.detail || '').endsWith(' 1')"
    )
    x0, y0, w, h, step = map(int, page.locator(CURRENT_PANE).get_attribute("data-detail").split())
    detail = f"{CURRENT_PANE} canvas[data-detail]"
    inside = [(x0 + w // 3 + i, y0 + h // 2 + i) for i in range(7)]  # seven neighbours: no two alike
    expected = [window_linear(int(stored[y, x]), 32000, 40000) for x, y in inside]
    assert len(set(expected)) > 3
    assert canvas_at(page, detail, [(x - x0, y - y0) for x, y in inside]) == expected
    assert (
        "in view: 1 pixel in 1 (full resolution)" in page.locator(f"{CURRENT_PANE} [data-hud]").inner_text()
    )
    # 3. A new window repaints both parts; what the tab holds is bounded by the budgets, not the film.
    page.locator("#v-center").fill("30000")
    page.locator("#v-width").fill("9000")
    page.locator("#v-width").press("Tab")
    assert canvas_at(page, detail, [(x - x0, y - y0) for x, y in inside]) == [
        window_linear(int(stored[y, x]), 30000, 9000) for x, y in inside
    ]
    held = page.eval_on_selector_all(f"{CURRENT_PANE} canvas", "cs => cs.map((c) => c.width * c.height)")
    assert sum(held) == 600 * 500 + w * h and w * h <= 4_194_304 < 2400 * 2000
    # Panning a little stays inside the region fetched with its margin: nothing is asked again.
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/pixels/" in r.url else None)
    page.locator(CURRENT_PANE).focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(600)
    assert asked == [] and page.locator(CURRENT_PANE).get_attribute("data-detail") == f"{x0} {y0} {w} {h} 1"
    # 4. Back to fit, the full-resolution region is let go: on a pane 700 px wide a 2,400 px film needs only
    #    every 3rd pixel (the 600 px overview is a little short of that, so this small budget asks for it).
    page.locator(CURRENT_PANE).focus()
    page.keyboard.press("f")
    page.wait_for_function(f"() => / 3$/.test(document.querySelector('{CURRENT_PANE}').dataset.detail || '')")
    assert page.locator(f"{CURRENT_PANE} canvas[data-detail]").count() == 1
    page.keyboard.press("-")  # smaller than fit: the overview alone
    page.wait_for_function(f"() => !document.querySelector('{CURRENT_PANE}').dataset.detail")
    assert page.locator(f"{CURRENT_PANE} canvas[data-detail]").count() == 0
    parts = AuditEvent.objects.filter(action="image.view", actor=carol, after__resolution="part")
    assert {e.after["step"] for e in parts} == {4, 1, 3}
    assert not page.js_errors


def renderer_rss_mb() -> float:
    """Resident memory of the Chromium renderers this test process started (their tabs' memory)."""
    psutil = pytest.importorskip("psutil")
    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            if "--type=renderer" in " ".join(child.cmdline()):
                total += child.memory_info().rss
        except psutil.Error:
            continue
    return round(total / 2**20)


def test_a_60_mp_film_in_the_tab_is_bounded_by_the_pixel_budget(
    page: Any, alice: Any, carol: Any, settings: Any, live_server: Any
) -> None:
    """Prints the tab's memory on a 7,000 x 8,500 film with the default budget and with none (figures, not
    asserted); asserts what the tab holds: at most budget + 4 MP pixels, where it held all 59.5 MP."""
    film = np.zeros((8500, 7000), dtype=np.uint16)
    film[:] = np.asarray(
        Image.fromarray(xray_pixels(16, index=5).astype(np.float32), mode="F").resize((7000, 8500))
    ).astype(np.uint16)
    study = film_study(created_by=alice, data=make_dicom(film, bits_stored=16, window=(32000, 40000)))
    del film
    figures = {}
    for name, budget in (("everything", 10**9), ("budget 12 MP", 12_000_000)):
        settings.AIRSPACE_VIEWER_PIXEL_BUDGET = budget
        context = page.context.browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        tab = context.new_page()
        tab.set_default_timeout(120_000)
        login(tab, "carol")
        before = renderer_rss_mb()
        tab.goto(f"/studies/{study.id}/")
        tab.wait_for_selector(f'{CURRENT_PANE}[data-state="full"]', timeout=180_000)
        loaded = renderer_rss_mb()
        tab.locator(CURRENT_PANE).focus()
        tab.keyboard.press("1")
        if budget < 10**9:
            tab.wait_for_function(
                f"() => (document.querySelector('{CURRENT_PANE}').dataset.detail || '').endsWith(' 1')",
                timeout=120_000,
            )
        held = tab.eval_on_selector_all(f"{CURRENT_PANE} canvas", "cs => cs.map((c) => c.width * c.height)")
        figures[name] = {
            "rss_mb_before": before,
            "rss_mb_loaded": loaded,
            "rss_mb_at_1_1": renderer_rss_mb(),
            "canvas_pixels": sum(held),
            "load_ms": int(tab.locator(CURRENT_PANE).get_attribute("data-load-ms")),
        }
        context.close()
    print("\n7,000 x 8,500 16-bit film, renderer memory:", json.dumps(figures))
    assert figures["everything"]["canvas_pixels"] == 7000 * 8500
    assert figures["budget 12 MP"]["canvas_pixels"] <= 12_000_000 + 4_194_304
