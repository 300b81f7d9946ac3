"""The radiologist's read comes first on every page; AI numbers are honest; the heatmap is opt-in (#16)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study
from tests.diagnosis.test_pages import Tags, assert_no_inline_code, client_for, html, with_heatmap

pytestmark = pytest.mark.django_db

PRELIMINARY = "Preliminary — not yet read by a radiologist"


def side_panel(body: str) -> str:
    """The result column of the study page (final read, AI result, review panel)."""
    return body[body.index('id="side-panel"') :]


def test_before_a_read_the_clinician_sees_a_preliminary_ai_result(alice: Any) -> None:
    study = completed_study(created_by=alice, probability=0.91)
    body = html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    panel = side_panel(body)
    assert PRELIMINARY in panel and "Final read" not in panel
    listed = html(client_for(alice).get(reverse("study-list")))
    row = listed[listed.index(f'data-study="{study.id}"') :].split("</tr>")[0]
    assert "Preliminary AI" in row and "not yet read by a radiologist" in row and "Pneumonia" in row


def test_after_an_override_the_final_read_leads_and_the_ai_result_is_collapsed(
    alice: Any, carol: Any
) -> None:
    study = with_heatmap(completed_study(created_by=alice, probability=0.991))
    review_submit(user=carol, study=study, decision="override", final_label="NORMAL", reason="false_alarm")
    body = html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    panel = side_panel(body)
    assert panel.index("Final read") < panel.index("AI result")
    final = panel[panel.index('id="final-read"') : panel.index("</section>")]
    assert "Normal" in final and "carol" in final and "<time" in final
    details = Tags(panel).find("details", id="ai-result")
    assert details and "open" not in details[0], "the superseded AI result must start collapsed"
    assert "superseded" in panel and PRELIMINARY not in panel
    # The Pneumonia heatmap explains a label the final read replaced: it is not offered.
    assert "data-heatmap-toggle" not in body and "final read is Normal" in body
    listed = html(client_for(alice).get(reverse("study-list")))
    row = listed[listed.index(f'data-study="{study.id}"') :].split("</tr>")[0]
    assert "Normal" in row and "final read" in row and "carol" in row
    assert "Preliminary" not in row and "Pneumonia" not in row and "0.99" not in row
    assert_no_inline_code(body)


def test_an_indeterminate_result_is_headed_as_such_never_as_a_green_normal(alice: Any) -> None:
    study = completed_study(created_by=alice, probability=0.45, threshold=0.5, indeterminate=True)
    body = html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    verdict = side_panel(body)[side_panel(body).index('class="verdict') :].split("</div>")[0]
    assert "Indeterminate — needs a closer look" in verdict
    assert "verdict-indeterminate" in verdict and "verdict-normal" not in verdict and "Normal" not in verdict
    # The label at the operating point is still told, with the confidence in that label (1 − p).
    assert "AI label would be Normal (confidence in Normal 0.550)" in body
    listed = html(client_for(alice).get(reverse("study-list")))
    assert "Indeterminate — needs a closer look" in listed


def test_confidence_is_the_probability_of_the_label_shown_and_no_number_repeats(alice: Any) -> None:
    normal = completed_study(created_by=alice, probability=0.594, threshold=0.773)
    panel = side_panel(html(client_for(alice).get(reverse("study-detail", args=[normal.id]))))
    assert (
        "Confidence in Normal</dt><dd>0.406" in panel
        and "Probability of pneumonia (calibrated)</dt><dd>0.594" in panel
    )
    pneumonia = completed_study(created_by=alice, probability=0.91)
    panel = side_panel(html(client_for(alice).get(reverse("study-detail", args=[pneumonia.id]))))
    assert len(re.findall(r"\b0\.910\b", panel)) == 1 and "also the confidence in Pneumonia" in panel
    assert "Calibrated confidence" not in panel and "Label at operating point" not in panel


def test_heatmap_is_off_by_default_not_fetched_and_has_a_legend(alice: Any, carol: Any) -> None:
    study = with_heatmap(completed_study(created_by=alice, probability=0.91))
    for user in (alice, carol):
        body = html(client_for(user).get(reverse("study-detail", args=[study.id])))
        page = Tags(body)
        toggle = page.find("input", id="v-heatmap")
        assert toggle and "checked" not in toggle[0]
        overlay = page.find("img", id="heatmap")[0]
        assert "src" not in overlay and overlay["data-src"] == reverse("study-heatmap", args=[study.id])
        assert "hidden" in overlay
        legend = page.find("figure", id="heatmap-legend")
        assert legend and "hidden" in legend[0]
        assert "Weaker evidence for pneumonia" in body and "not a probability" in body


def test_no_heatmap_is_offered_for_a_normal_result(alice: Any) -> None:
    study = with_heatmap(completed_study(created_by=alice, probability=0.2))
    body = html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    assert 'id="heatmap"' not in body and "data-heatmap-toggle" not in body
    assert "the map only explains a Pneumonia result" in body


def test_worklist_marks_the_ai_result_preliminary_and_indeterminate(alice: Any, carol: Any) -> None:
    completed_study(created_by=alice, probability=0.45, indeterminate=True)
    body = html(client_for(carol).get(reverse("worklist")))
    assert "AI, preliminary" in body and "Indeterminate — needs a closer look" in body


def test_the_cancel_button_goes_with_the_queued_state(alice: Any) -> None:
    """The panels fragment that polling swaps in carries the controls: no Cancel once the study is done."""
    from diagnosis.models import Study
    from tests.diagnosis.factories import ImageFactory, StudyFactory

    study = StudyFactory(created_by=alice, status=Study.Status.QUEUED)
    ImageFactory(study=study)
    client = client_for(alice)
    assert "Cancel study" in html(client.get(reverse("study-detail", args=[study.id])))
    Study.objects.filter(id=study.id).update(status=Study.Status.PROCESSING)
    fragment = html(client.get(reverse("study-panels", args=[study.id])))
    assert 'id="study-controls"' in fragment and "Cancel study" not in fragment


def test_model_page_plot_captions_are_words_not_file_stems() -> None:
    from modelops.views.model_card import plot_title

    assert plot_title("pr.png") == "Precision–recall" and plot_title("roc.svg") == "ROC"
    assert plot_title("score_histograms.png") == "Score histograms" and plot_title("my-plot.png") == "My plot"


def test_error_pages_name_the_shipped_favicon_and_favicon_ico_redirects_to_it(client: Any) -> None:
    from django.contrib.staticfiles import finders

    body = html(client.get("/no-such-page/"))
    icon = Tags(body).find("link", rel="icon")
    assert icon and finders.find(icon[0]["href"].removeprefix("/static/"))
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == icon[0]["href"]


def test_upload_page_asks_before_filing_under_a_patient_with_other_details(
    alice: Any, xray_bytes: bytes
) -> None:
    """Without JavaScript too: a 409 page with a confirmation box, then the study with its warning."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from diagnosis.models import Patient, Study

    on_file = Patient.objects.create(
        mrn="MRN-3001", name="Jane Doe", birth_date="2021-03-04", created_by=alice
    )
    client = client_for(alice)
    fields = {"patient_mrn": "MRN-3001", "patient_name": "John Smith", "priority": "routine"}
    upload = SimpleUploadedFile("film.jpg", xray_bytes, content_type="image/jpeg")
    held = client.post(reverse("study-upload"), {**fields, "image": upload})
    body = html(held)
    assert held.status_code == 409 and not Study.objects.exists()
    assert "already on file with a different name" in body and 'name="confirm_patient"' in body
    assert "Jane" not in body
    upload = SimpleUploadedFile("film.jpg", xray_bytes, content_type="image/jpeg")
    filed = client.post(reverse("study-upload"), {**fields, "image": upload, "confirm_patient": "true"})
    study = Study.objects.get()
    assert filed.status_code == 302 and study.patient == on_file
    assert study.warnings == ["patient_details_differ_confirmed"]
    page = html(client.get(reverse("study-detail", args=[study.id])))
    assert "Check the patient:" in page and "confirmed filing the study under that patient" in page
    assert "check patient" in html(client.get(reverse("study-list")))
