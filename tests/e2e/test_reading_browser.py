"""Worklist badges and claims between two radiologists, and the admin monitoring dashboard, in Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEvent
from diagnosis.models import Study
from reading.models import Review
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_worklist_badges_and_a_claim_seen_by_the_other_radiologist(
    page: Any, alice: Any, carol: Any, dave: Any
) -> None:
    urgent = completed_study(created_by=alice, probability=0.3, priority="urgent")
    completed_study(created_by=alice, probability=0.8)
    login(page, "carol")
    page.goto("/worklist/")
    assert page.get_by_text("2 awaiting review").is_visible() and page.get_by_text("1 urgent").is_visible()
    page.get_by_role("button", name="Claim and read").first.click()  # the urgent study comes first
    page.wait_for_url(f"**/studies/{urgent.id}/")
    assert Study.objects.get(id=urgent.id).reading_claimed_by == carol
    page.goto("/worklist/")
    assert page.get_by_text("1 claimed by me").is_visible()
    shot(page, "reading-01-worklist-claimed")
    page.context.clear_cookies()
    login(page, "dave")
    page.goto("/worklist/")
    row = page.locator("tr", has_text=urgent.patient.mrn)
    assert "taken by carol" in row.inner_text()
    page.goto("/worklist/?claim=free")
    assert (
        page.locator("tbody tr").count() == 1 and urgent.patient.mrn not in page.locator("tbody").inner_text()
    )
    assert not page.js_errors
    assert AuditEvent.objects.filter(action="study.claim", actor=carol).count() == 1


def test_monitoring_dashboard_renders_its_plots_for_an_admin(
    page: Any, alice: Any, carol: Any, admin_user: Any
) -> None:
    for probability, final in ((0.9, "PNEUMONIA"), (0.8, "NORMAL"), (0.2, "NORMAL"), (0.1, "PNEUMONIA")):
        study = completed_study(created_by=alice, probability=probability)
        ai = study.predictions.get().label
        if ai == final:
            review_submit(user=carol, study=study, decision="agree")
        else:
            reason = "missed_finding" if final == "PNEUMONIA" else "false_alarm"
            review_submit(user=carol, study=study, decision="override", final_label=final, reason=reason)
    assert Review.objects.count() == 4
    login(page, "root-admin")
    page.get_by_role("link", name="Monitoring").click()
    page.wait_for_url("**/monitoring/")
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Model test-model").is_visible()
    images = page.locator(".plots img")
    assert images.count() == 4
    widths = images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert all(width > 0 for width in widths), widths  # every SVG was served and decoded
    shot(page, "reading-02-monitoring")
    assert not page.js_errors
