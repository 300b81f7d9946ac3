"""Signed reports: a version per signed read, superseded by an amendment, the PDF's text and sha256, scope, audit."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.base import ContentFile
from pypdf import PdfReader

from audit.models import AuditEvent
from modelops.models import OperatingProfile
from modelops.services.profiles import profile_create
from portal.errors import DomainError
from reading.models import Report
from reading.services.reports import report_render
from reading.services.reviews import review_submit
from tests.diagnosis.factories import completed_study, png_bytes

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    """All the text of a PDF, whitespace collapsed."""
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


@pytest.fixture
def signed(alice, carol):
    """Alice's positive study with an indication and a heatmap, signed Pneumonia (agree) by Carol."""
    study = completed_study(created_by=alice, probability=0.91)
    study.clinical_notes = "Fever 39.5 C and cough for 4 days"
    study.accession_number = "ACC-2026-0042"
    study.save()
    prediction = study.predictions.get()
    prediction.heatmap.save("heatmap.png", ContentFile(png_bytes(shade=200)), save=True)
    review_submit(user=carol, study=study, decision="agree", note="Right lower lobe consolidation.")
    return study


def amend(study, reader) -> None:
    """Amend the read to Normal (a false alarm), with a reason."""
    review_submit(
        user=reader,
        study=study,
        decision="override",
        final_label="NORMAL",
        reason="false_alarm",
        amendment_reason="Second look: the opacity is the thymus.",
    )


def test_signing_makes_report_version_1_and_an_amendment_supersedes_it(signed, carol):
    v1 = Report.objects.get(study=signed)
    assert (v1.version, v1.status, v1.superseded_at) == (1, "current", None)
    amend(signed, carol)
    v1.refresh_from_db()
    v2 = Report.objects.get(study=signed, version=2)
    assert v1.status == "superseded" and v1.superseded_at is not None
    assert v2.status == "current" and v2.review.amendment_reason.startswith("Second look")


def test_an_amendment_without_a_reason_is_refused_and_issues_no_report(signed, carol):
    with pytest.raises(DomainError) as refused:
        review_submit(
            user=carol, study=signed, decision="override", final_label="NORMAL", reason="false_alarm"
        )
    assert refused.value.code == "amendment_needs_reason"
    assert list(Report.objects.filter(study=signed).values_list("version", "status")) == [(1, "current")]


def test_pdf_holds_patient_study_indication_final_read_and_the_ai_as_decision_support(client, signed, alice):
    client.force_login(alice)
    response = client.get(f"/studies/{signed.id}/report.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    data = b"".join(response.streaming_content)
    text = pdf_text(data)
    for expected in (
        signed.patient.mrn,
        "ACC-2026-0042",
        "Fever 39.5 C and cough for 4 days",
        "Final read Pneumonia",
        "carol",
        "Right lower lobe consolidation.",
        "decision support",
        "Model version test-model",
        "Operating profile",
        "With the AI heatmap",
        "Amendment history",
    ):
        assert expected in text, expected
    report = Report.objects.get(study=signed)
    assert report.sha256 == hashlib.sha256(data).hexdigest() and report.size_bytes == len(data)
    downloads = AuditEvent.objects.filter(action="report.download", object_id=str(signed.id))
    assert [(e.actor_username, e.after["sha256"]) for e in downloads] == [("alice", report.sha256)]
    assert AuditEvent.objects.filter(action="report.render", after__sha256=report.sha256).count() == 1


def test_after_an_amendment_the_new_pdf_carries_the_history_and_the_old_one_is_kept(client, signed, carol):
    first = report_render(report_id=Report.objects.get(study=signed).id)
    amend(signed, carol)
    client.force_login(carol)
    text = pdf_text(b"".join(client.get(f"/studies/{signed.id}/report.pdf").streaming_content))
    assert "Report version 2" in text and "Final read Normal" in text
    assert "Second look: the opacity is the thymus." in text and "v1" in text and "v2" in text
    # The heatmap is not drawn once the read contradicts the AI's Pneumonia.
    assert "With the AI heatmap" not in text and "does not confirm" in text
    old = client.get(f"/studies/{signed.id}/report/v1.pdf")
    assert "superseded" in old["Content-Disposition"]
    old_bytes = b"".join(old.streaming_content)
    assert hashlib.sha256(old_bytes).hexdigest() == first.sha256
    assert "Final read Pneumonia" in pdf_text(old_bytes)


def test_print_view_shows_the_report_and_no_review_controls(client, signed, alice):
    client.force_login(alice)
    response = client.get(f"/studies/{signed.id}/report/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "AI result — decision support" in body and "Fever 39.5 C" in body
    assert 'id="review-form"' not in body and "reading/report.css" in body
    assert AuditEvent.objects.filter(action="report.view", actor_username="alice").count() == 1
    image = client.get(f"/studies/{signed.id}/report/v1/overlay.jpg")
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert client.get(f"/studies/{signed.id}/report/v1/other.jpg").status_code == 404


def test_someone_elses_report_answers_like_a_missing_one(client, signed, bob, nobody, admin_user):
    client.force_login(bob)  # another clinician, who does not share Alice's scope
    for url in (f"/studies/{signed.id}/report/", f"/studies/{signed.id}/report.pdf"):
        assert client.get(url).status_code == 404
    assert client.get(f"/studies/{signed.id}/report/v9/").status_code == 404
    client.force_login(nobody)
    assert client.get(f"/studies/{signed.id}/report.pdf").status_code == 403
    client.force_login(admin_user)
    assert client.get(f"/studies/{signed.id}/report.pdf").status_code == 200
    assert not AuditEvent.objects.filter(action="report.download", actor_username="bob").exists()


def test_a_study_without_a_signed_read_has_no_report(client, alice):
    study = completed_study(created_by=alice)
    client.force_login(alice)
    assert client.get(f"/studies/{study.id}/report/").status_code == 404


def test_a_pdf_altered_in_storage_is_refused_not_served(client, signed, alice):
    report = report_render(report_id=Report.objects.get(study=signed).id)
    storage = report.pdf.storage
    name = report.pdf.name
    storage.delete(name)
    storage.save(name, ContentFile(b"%PDF-1.4 forged"))
    client.force_login(alice)
    response = client.get(f"/studies/{signed.id}/report.pdf")
    assert response.status_code == 409 and "checksum" in response.content.decode()
    assert AuditEvent.objects.filter(action="report.integrity_failed").count() == 1


def test_the_report_names_the_operating_profile_that_labelled_the_prediction(client, alice, carol):
    profile = profile_create(
        model_version="test-model",
        temperature=1.3,
        bias=-0.4,
        threshold=0.5,
        band=(0.45, 0.55),
        target_sensitivity=0.95,
        source=OperatingProfile.Source.REVIEWS,
        metrics={"after": {"sensitivity": {"value": 0.97, "ci_low": 0.9, "ci_high": 0.99}}},
    )
    study = completed_study(created_by=alice, probability=0.8)
    study.predictions.update(operating_profile=profile)
    review_submit(user=carol, study=study, decision="agree")
    client.force_login(alice)
    text = pdf_text(b"".join(client.get(f"/studies/{study.id}/report.pdf").streaming_content))
    assert f"Operating profile #{profile.pk} · {profile.get_source_display()}" in text


def test_api_lists_the_versions_and_serves_each_pdf_scoped_and_audited(api, signed, alice, bob, carol):
    amend(signed, carol)
    api.force_authenticate(alice)
    listing = api.get(f"/api/v1/studies/{signed.id}/report/")
    assert listing.status_code == 200
    rows = listing.json()
    assert [(r["version"], r["status"], r["final_label"]) for r in rows] == [
        (2, "current", "NORMAL"),
        (1, "superseded", "PNEUMONIA"),
    ]
    assert rows[0]["amendment_reason"].startswith("Second look") and rows[1]["superseded_at"]
    pdf = api.get(rows[1]["pdf"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    data = b"".join(pdf.streaming_content)
    assert "Final read Pneumonia" in pdf_text(data) and "superseded" in pdf["Content-Disposition"]
    assert Report.objects.get(study=signed, version=1).sha256 == hashlib.sha256(data).hexdigest()
    api.force_authenticate(bob)
    assert api.get(f"/api/v1/studies/{signed.id}/report/").status_code == 404
    assert api.get(rows[1]["pdf"]).status_code == 404
    assert AuditEvent.objects.filter(action="report.download", actor_username="alice").count() == 1
