"""Server-rendered pages: the page contract, each role's access, the forms, and no inline script or style."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from diagnosis.models import Study
from reading.models import Review
from reading.services.claims import reading_claim_take
from tests.diagnosis.factories import completed_study, png_bytes

pytestmark = pytest.mark.django_db


class Tags(HTMLParser):
    """Every start tag with its attributes, plus the text of <title> and buttons/links, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def html(response: Any) -> str:
    return response.content.decode()


def assert_no_inline_code(body: str) -> None:
    """The CSP forbids inline script and style attributes: the pages must not rely on them."""
    parsed = Tags(body)
    for tag, attrs in parsed.tags:
        assert "style" not in attrs, f"inline style on <{tag}>"
        assert not [name for name in attrs if name.startswith("on")], f"inline handler on <{tag}>"
        if tag == "script":
            assert attrs.get("src"), "inline <script>"
    assert "javascript:" not in body.lower()
    assert not re.search(r"<style[\s>]", body)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_heatmap(study: Study) -> Study:
    prediction = study.predictions.get()
    prediction.heatmap.save("heatmap.png", ContentFile(png_bytes()), save=True)
    return study


# --- the page contract --------------------------------------------------------------------------------


def test_anonymous_root_goes_to_the_login_form_with_username_and_password(client: Client) -> None:
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    page = Tags(html(response))
    assert page.find("input", name="username") and page.find("input", name="password", type="password")
    assert_no_inline_code(html(response))


def test_clinician_logs_in_and_lands_one_click_from_the_upload_form(client: Client, alice: Any) -> None:
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct-horse-battery"}, follow=True
    )
    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("study-list")
    body = html(response)
    assert re.search(rf'<a [^>]*href="{reverse("study-upload")}"[^>]*>New study</a>', body)
    assert AuditEvent.objects.filter(action="auth.login", actor=alice).count() == 1
    assert_no_inline_code(body)


def test_upload_form_holds_image_and_mrn_in_one_form_with_a_submit_button(alice: Any) -> None:
    body = html(client_for(alice).get(reverse("study-upload")))
    form = body[body.index('<form method="post" enctype') : body.index("</form>", body.index("enctype"))]
    fields = Tags(form)
    assert fields.find("input", type="file", name="image")
    assert fields.find("input", name="patient_mrn")
    assert fields.find("button", type="submit")
    assert_no_inline_code(body)


def test_plain_form_upload_without_javascript_creates_the_study(alice: Any, xray_bytes: bytes) -> None:
    client = client_for(alice)
    image = ContentFile(xray_bytes, name="chest.jpg")
    response = client.post(
        reverse("study-upload"), {"image": image, "patient_mrn": "MRN-77", "priority": "urgent"}
    )
    study = Study.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("study-detail", args=[study.id])
    assert study.patient.mrn == "MRN-77" and study.priority == "urgent" and study.status == "queued"
    assert AuditEvent.objects.filter(action="study.upload", object_id=str(study.id)).count() == 1
    page = html(client.get(response["Location"]))
    assert "not a diagnosis" in page and "Waiting for the analysis" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"patient_mrn": ""}, "patient_mrn", "Enter the patient&#x27;s MRN."),
        ({"patient_mrn": "bad mrn!"}, "patient_mrn", "Use letters, digits"),
        (
            {"patient_mrn": "M1", "patient_birth_date": "2999-01-01"},
            "patient_birth_date",
            "cannot be in the future",
        ),
    ],
)
def test_upload_form_validation_messages(
    alice: Any, xray_bytes: bytes, data: dict, field: str, message: str
) -> None:
    response = client_for(alice).post(
        reverse("study-upload"),
        {"image": ContentFile(xray_bytes, name="x.jpg"), "priority": "routine", **data},
    )
    body = html(response)
    assert response.status_code == 400 and message in body
    assert re.search(
        rf'id="id_{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="id_{field}"', body
    )
    assert 'id="error-summary"' in body and not Study.objects.exists()


def test_plain_form_refuses_a_non_image_with_the_reason(alice: Any) -> None:
    response = client_for(alice).post(
        reverse("study-upload"),
        {
            "image": ContentFile(b"%PDF-1.4 not an x-ray", name="x.jpg"),
            "patient_mrn": "M2",
            "priority": "routine",
        },
    )
    assert response.status_code == 400 and "id_image-error" in html(response)
    assert not Study.objects.exists()


def test_duplicate_upload_warns_on_the_study_page(alice: Any, xray_bytes: bytes) -> None:
    client = client_for(alice)
    for _ in range(2):
        response = client.post(
            reverse("study-upload"),
            {"image": ContentFile(xray_bytes, name="x.jpg"), "patient_mrn": "M3", "priority": "routine"},
            follow=True,
        )
    first, second = Study.objects.order_by("created_at")
    assert second.duplicate_of_id == first.id
    assert "uploaded before" in html(response) and reverse("study-detail", args=[first.id]) in html(response)


# --- the study page -----------------------------------------------------------------------------------


def test_result_card_shows_every_fact_and_the_notice(alice: Any) -> None:
    study = with_heatmap(
        completed_study(created_by=alice, probability=0.62, threshold=0.55, indeterminate=True)
    )
    response = client_for(alice).get(reverse("study-detail", args=[study.id]))
    body = html(response)
    for text in (
        "AI decision support — not a diagnosis",
        "Preliminary — not yet read by a radiologist",
        "Probability of pneumonia (calibrated)",
        "0.620",
        "confidence in Pneumonia 0.620",
        "Site operating point",
        "0.550",
        "test-model",
        "Indeterminate — needs a closer look",
        "evidence for pneumonia — not a lesion outline",
    ):
        assert text in body, text
    assert "Calibrated confidence" not in body
    assert (
        reverse("study-heatmap", args=[study.id]) in body and reverse("study-image", args=[study.id]) in body
    )
    assert AuditEvent.objects.filter(action="study.view", object_id=str(study.id)).count() == 1
    assert_no_inline_code(body)


def test_intended_use_flags_read_as_sentences_not_codes(alice: Any) -> None:
    study = completed_study(created_by=alice)
    study.predictions.update(flags=["adult_patient", "lateral_view"])
    body = html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    assert "Outside intended use" in body
    assert "not validated for adults" in body and "frontal (AP/PA) views only" in body
    assert "adult_patient" not in body and "lateral_view" not in body


def test_rejected_study_shows_its_reason(alice: Any) -> None:
    study = completed_study(created_by=alice)
    study.predictions.all().delete()
    Study.objects.filter(id=study.id).update(
        status="rejected", error_code="not_chest_xray", status_reason="This does not look like a chest X-ray."
    )
    body = html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    assert (
        "Rejected" in body and "This does not look like a chest X-ray." in body and "not_chest_xray" in body
    )


def test_panels_fragment_swaps_in_the_result_audited_as_a_poll(alice: Any) -> None:
    study = completed_study(created_by=alice)
    response = client_for(alice).get(reverse("study-panels", args=[study.id]))
    body = html(response)
    assert response.status_code == 200 and 'id="viewer-panel"' in body and 'id="side-panel"' in body
    assert 'data-announce="Analysis complete: Pneumonia' in body and 'id="study-controls"' in body
    assert not AuditEvent.objects.filter(action="study.view").exists()
    assert AuditEvent.objects.filter(action="study.poll", object_id=str(study.id)).count() == 1


def test_other_clinicians_cannot_open_the_study_or_its_fragments(alice: Any, bob: Any) -> None:
    study = completed_study(created_by=alice)
    client = client_for(bob)
    for name in ("study-detail", "study-panels", "study-status", "study-image"):
        assert client.get(reverse(name, args=[study.id])).status_code == 404, name


# --- reading: claim, next, review ---------------------------------------------------------------------


def test_radiologist_study_page_has_the_review_form_and_shortcuts(carol: Any, alice: Any) -> None:
    study = completed_study(created_by=alice)
    body = html(client_for(carol).get(reverse("study-detail", args=[study.id])))
    page = Tags(body)
    assert page.find("form", id="review-form") and page.find("form", id="next-form")
    assert page.find("script", src="/static/js/reading.js") and "Keyboard shortcuts" in body
    assert_no_inline_code(body)


def test_clinician_sees_no_review_form(alice: Any) -> None:
    study = completed_study(created_by=alice)
    body = html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    assert 'id="review-form"' not in body and "reading.js" not in body


def test_next_claims_the_first_free_study_and_skips_one_being_read(carol: Any, dave: Any, alice: Any) -> None:
    taken = completed_study(created_by=alice, probability=0.99)
    free = completed_study(created_by=alice, probability=0.7)
    reading_claim_take(user=dave, study=taken)
    response = client_for(carol).post(reverse("worklist-next"))
    assert response.status_code == 302 and response["Location"] == reverse("study-detail", args=[free.id])
    free.refresh_from_db()
    assert free.reading_claimed_by == carol
    assert AuditEvent.objects.filter(action="study.claim", object_id=str(free.id), actor=carol).exists()
    again = client_for(carol).post(reverse("worklist-next"), {"after": str(free.id)}, follow=True)
    assert again.redirect_chain[-1][0] == reverse("worklist") and "Nothing else" in html(again)


def test_override_without_reason_is_refused_then_signed_with_one(carol: Any, alice: Any) -> None:
    study = completed_study(created_by=alice)
    client = client_for(carol)
    url = reverse("study-review", args=[study.id])
    refused = client.post(url, {"decision": "override", "final_label": "NORMAL"}, follow=True)
    assert "needs a reason" in html(refused) and not Review.objects.exists()
    signed = client.post(url, {"decision": "override", "final_label": "NORMAL", "reason": "false_alarm"})
    review = Review.objects.get()
    assert signed.status_code == 302 and review.final_label == "NORMAL" and review.reason == "false_alarm"
    assert study.predictions.get().label == "PNEUMONIA"  # the AI output is never changed
    event = AuditEvent.objects.get(action="review.sign")
    assert event.after["decision"] == "override" and event.actor == carol
    body = html(client.get(reverse("study-detail", args=[study.id])))
    assert "Override AI" in body and "Model false alarm" in body


# --- roles --------------------------------------------------------------------------------------------

PAGES = ["study-list", "study-upload", "worklist", "audit", "model-card"]
ALLOWED = {
    "alice": {"study-list", "study-upload", "model-card"},
    "carol": {"study-list", "worklist", "model-card"},
    "root-admin": {"study-list", "study-upload", "worklist", "audit", "model-card"},
    "nobody": set(),
}


@pytest.mark.parametrize("who", ["alice", "carol", "admin_user", "nobody"])
def test_each_role_reaches_only_its_pages(request: pytest.FixtureRequest, who: str) -> None:
    user = request.getfixturevalue(who)
    client = client_for(user)
    for name in PAGES:
        response = client.get(reverse(name))
        expected = 200 if name in ALLOWED[user.username] else 403
        assert response.status_code == expected, (user.username, name, response.status_code)
        if expected == 200:
            assert_no_inline_code(html(response))


def test_anonymous_pages_redirect_to_login(client: Client) -> None:
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_no_role_user_sees_the_no_access_page(nobody: Any) -> None:
    response = client_for(nobody).get("/")
    assert response.status_code == 403 and "No access" in html(response)


# --- admin: audit page and export ---------------------------------------------------------------------


def test_audit_page_filters_and_exports_csv_and_the_export_is_audited(
    admin_user: Any, alice: Any, carol: Any
) -> None:
    study = completed_study(created_by=alice)
    reading_claim_take(user=carol, study=study)
    client = client_for(admin_user)
    body = html(client.get(reverse("audit"), {"action": "study.claim"}))
    assert "study.claim" in body and "carol" in body and 'id="audit-export"' in body
    assert_no_inline_code(body)
    export = client.get(reverse("audit"), {"action": "study.claim", "format": "csv"})
    text = b"".join(export.streaming_content).decode()
    assert export["Content-Type"] == "text/csv" and "attachment" in export["Content-Disposition"]
    rows = text.strip().splitlines()
    assert rows[0].startswith("id,created_at,actor_username,action") and len(rows) == 2 and "carol" in rows[1]
    assert AuditEvent.objects.filter(action="audit.export", actor=admin_user).count() == 1


# --- the model page -----------------------------------------------------------------------------------


@pytest.fixture
def bundle(tmp_path: Path, settings: Any) -> Path:
    """A small stand-in bundle with a card (including hostile HTML) and one report plot."""
    (tmp_path / "report").mkdir()
    (tmp_path / "metadata.json").write_text(
        json.dumps(
            {
                "version": "cnn-test-7",
                "previous_version": "cnn-test-6",
                "changes": ["Heatmaps on a 20x20 map <b>not</b> 3x3"],
                "sha256": "0" * 64,
                "threshold": 0.42,
                "indeterminate_band": [0.4, 0.45],
                "metrics": {"roc_auc": {"value": 0.9312345, "ci_low": 0.9, "ci_high": 0.95}, "ece": 0.01},
            }
        )
    )
    (tmp_path / "MODEL_CARD.md").write_text(
        "# Card\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>\n"
    )
    (tmp_path / "report" / "roc_curve.png").write_bytes(png_bytes())
    (tmp_path / "secret.txt").write_text("outside the report folder")
    settings.AIRSPACE_MODEL_BUNDLE = str(tmp_path)
    return tmp_path


def test_model_page_renders_the_card_safely_with_metrics_and_plots(bundle: Path, carol: Any) -> None:
    client = client_for(carol)
    body = html(client.get(reverse("model-card")))
    assert "cnn-test-7" in body and "0.4200" in body and "0.4000 – 0.4500" in body
    assert (
        re.search(r"roc auc</th><td>0.931</td><td>0.900 – 0.950</td>", body) and "ece</th><td>0.010" in body
    )
    assert "<table>" in body and "&lt;script&gt;" in body
    # What changed since the previous version, from metadata (escaped like everything else).
    assert "What changed since cnn-test-6" in body and "<dd>cnn-test-6</dd>" in body
    assert "<li>Heatmaps on a 20x20 map &lt;b&gt;not&lt;/b&gt; 3x3</li>" in body
    assert_no_inline_code(body)
    url = reverse("model-report-file", args=["roc_curve.png"])
    assert url in body
    plot = client.get(url)
    assert plot.status_code == 200 and plot["Content-Type"] == "image/png"
    assert b"".join(plot.streaming_content) == png_bytes()


@pytest.mark.parametrize("name", ["..%2Fsecret.txt", "secret.txt", "missing.png", ".hidden.png", "x.html"])
def test_model_report_files_cannot_escape_the_report_folder(bundle: Path, carol: Any, name: str) -> None:
    response = client_for(carol).get(f"/model/report/{name}")
    assert response.status_code == 404


def test_model_page_is_refused_to_a_user_without_a_role(bundle: Path, nobody: Any) -> None:
    client = client_for(nobody)
    assert client.get(reverse("model-card")).status_code == 403
    assert client.get(reverse("model-report-file", args=["roc_curve.png"])).status_code == 403


def test_navigation_matches_the_role(alice: Any, carol: Any, admin_user: Any) -> None:
    """Each role's menu shows only what it may open; admins reach audit, model and monitoring pages."""
    nav = {
        user.username: re.findall(
            r'<nav aria-label="Main".*?</nav>', html(client_for(user).get("/", follow=True)), re.S
        )[0]
        for user in (alice, carol, admin_user)
    }
    assert (
        ">New study<" in nav["alice"] and ">Worklist<" not in nav["alice"] and ">Audit<" not in nav["alice"]
    )
    assert ">Worklist<" in nav["carol"] and ">New study<" not in nav["carol"] and ">Model<" in nav["carol"]
    assert all(f">{name}<" in nav["root-admin"] for name in ("Studies", "Worklist", "Audit", "Model"))
    assert 'aria-current="page"' in nav["root-admin"]
    assert f'href="{reverse("monitoring")}"' in nav["root-admin"]
    assert reverse("monitoring") not in nav["alice"] + nav["carol"]


def test_review_form_offers_the_sites_configured_reasons(carol: Any, alice: Any, settings: Any) -> None:
    settings.AIRSPACE_REVIEW_REASONS = ["missed_finding:Missed consolidation", "other"]
    study = completed_study(created_by=alice)
    body = html(client_for(carol).get(reverse("study-detail", args=[study.id])))
    select = re.search(r'<select name="reason".*?</select>', body, re.S).group(0)
    assert "Missed consolidation" in select and 'value="other"' in select and "false_alarm" not in select


def test_error_pages_are_the_portals_own(alice: Any, client: Client) -> None:
    """403 and 404 in the portal's layout, with the way back; nothing inline."""
    client.force_login(alice)
    forbidden = client.get(reverse("audit"))
    assert forbidden.status_code == 403 and "Not allowed" in html(forbidden) and 'href="/"' in html(forbidden)
    missing = client.get("/studies/00000000-0000-0000-0000-000000000000/")
    assert missing.status_code == 404 and "Not found" in html(missing)
    for response in (forbidden, missing):
        assert_no_inline_code(html(response))


def test_crash_pages_render_without_a_request() -> None:
    from django.template.loader import render_to_string

    assert "Something went wrong" in render_to_string("500.html")
    assert "Bad request" in render_to_string("400.html")


def test_clinician_cancels_a_queued_study_from_its_page(alice: Any, bob: Any, carol: Any) -> None:
    from tests.diagnosis.factories import ImageFactory, StudyFactory

    study = StudyFactory(created_by=alice, status=Study.Status.QUEUED)
    ImageFactory(study=study)
    url = reverse("study-cancel", args=[study.id])
    assert 'action="' + url + '"' in html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    assert client_for(bob).post(url).status_code == 404
    assert client_for(carol).post(url).status_code == 403
    response = client_for(alice).post(url, follow=True)
    study.refresh_from_db()
    assert study.status == "cancelled" and "Study cancelled." in html(response)
    assert AuditEvent.objects.filter(action="study.cancel", object_id=str(study.id), actor=alice).count() == 1
    again = client_for(alice).post(url, follow=True)
    assert "Only a queued study can be cancelled." in html(again)


def test_admin_reruns_a_finished_study_from_its_page(alice: Any, admin_user: Any) -> None:
    study = completed_study(created_by=alice)
    url = reverse("study-rerun", args=[study.id])
    assert url not in html(client_for(alice).get(reverse("study-detail", args=[study.id])))
    assert client_for(alice).post(url).status_code == 403
    page = html(client_for(admin_user).get(reverse("study-detail", args=[study.id])))
    assert 'action="' + url + '"' in page
    response = client_for(admin_user).post(url, follow=True)
    study.refresh_from_db()
    assert study.status == "queued" and study.rerun_requested_by == admin_user
    assert "Queued again" in html(response) and study.predictions.count() == 1
    assert (
        AuditEvent.objects.filter(action="study.rerun", object_id=str(study.id), actor=admin_user).count()
        == 1
    )
