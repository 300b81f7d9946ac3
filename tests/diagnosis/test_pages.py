"""Server-rendered pages: the page contract, each role's access, the forms, and no inline script or style."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from diagnosis.models import Study
from tests.diagnosis.factories import completed_study
from tests.fixtures.pages import Tags, assert_no_inline_code, client_for, html, with_heatmap

pytestmark = pytest.mark.django_db


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
