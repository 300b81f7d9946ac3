"""Priors and patient context (#19): the patient's other studies beside the study, side-by-side comparison,
the age at the study date, search by name / partial MRN / accession, worklist columns, the readers' menu.
Alice (clinician) owns the records, Bob (another clinician) must see nothing, Carol reads for everyone."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from diagnosis.ages import age_at
from diagnosis.models import Department, StaffProfile, Study
from tests.diagnosis.factories import completed_study, patient_with_two_films
from tests.fixtures.api import token_client
from tests.fixtures.pages import Tags, client_for, html


@pytest.mark.parametrize(
    ("born", "on", "said"),
    [
        (date(2026, 2, 1), date(2026, 2, 13), "12 d"),
        (date(2025, 1, 31), date(2026, 3, 30), "13 mo"),
        (date(2021, 3, 2), date(2026, 3, 1), "4 y"),
        (date(2021, 3, 1), date(2026, 3, 1), "5 y"),
        (None, date(2026, 3, 1), ""),
        (date(2026, 3, 2), date(2026, 3, 1), ""),
    ],
)
def test_age_at_a_date_as_a_paediatric_reader_says_it(born: date | None, on: date, said: str) -> None:
    assert age_at(born, on) == said


def stages_of(response: Any) -> list[dict[str, str | None]]:
    """The viewer panes' stages on a page."""
    return [attrs for tag, attrs in Tags(html(response)).tags if tag == "div" and "data-viewer" in attrs]


@pytest.fixture
def history(alice: Any) -> dict[str, Any]:
    """Ada (born 2021-01-15): a 2025 film, a 2026 film; and another patient's study."""
    prior, current = patient_with_two_films(created_by=alice)
    return {
        "ada": current.patient,
        "prior": prior,
        "current": current,
        "other": completed_study(created_by=alice),
    }


def test_study_page_lists_the_patients_other_studies_with_their_age_and_audits_them(
    carol: Any, history: dict[str, Any]
) -> None:
    current, prior = history["current"], history["prior"]
    body = html(client_for(carol).get(reverse("study-detail", args=[current.id])))
    priors = body.split('id="priors"')[1].split("</section>")[0]
    assert "ACC-PRIOR-7" in priors and "4 y" in priors and "2025-03-01" in priors
    assert str(history["other"].id) not in priors  # another patient's study is no prior
    assert f"?compare={prior.id}" in priors and "age 5 y at study" in body
    event = AuditEvent.objects.get(action="study.list", actor=carol)
    assert event.after["ids"] == [str(prior.id)] and event.after["priors_of"] == str(current.id)


def test_compare_shows_the_prior_beside_the_study_audited_as_a_view(
    carol: Any, history: dict[str, Any]
) -> None:
    current, prior = history["current"], history["prior"]
    response = client_for(carol).get(reverse("study-detail", args=[current.id]), {"compare": str(prior.id)})
    stages = stages_of(response)
    assert [s["data-pixels"] for s in stages] == [
        reverse("study-pixels", args=[current.id]),
        reverse("study-pixels", args=[prior.id]),
    ]
    assert "Link zoom and pan" in html(response) and "panels/?compare=" in html(response)
    view = AuditEvent.objects.get(action="study.view", object_id=str(prior.id))
    assert view.after["compared_with"] == str(current.id)


@pytest.mark.parametrize("which", ["other", "garbage", "self"])
def test_compare_with_a_study_not_of_this_patient_answers_alike_and_shows_nothing(
    carol: Any, history: dict[str, Any], which: str
) -> None:
    current = history["current"]
    other = {"other": str(history["other"].id), "garbage": "not-a-uuid", "self": str(current.id)}[which]
    response = client_for(carol).get(reverse("study-detail", args=[current.id]), {"compare": other})
    assert response.status_code == 200 and "cannot be shown beside this one" in html(response)
    assert len(stages_of(response)) == 1
    assert not AuditEvent.objects.filter(action="study.view", after__has_key="compared_with").exists()


def test_another_clinician_sees_no_prior_no_patient_and_no_search_hit(
    bob: Any, history: dict[str, Any]
) -> None:
    client = client_for(bob)
    assert client.get(reverse("study-detail", args=[history["current"].id])).status_code == 404
    assert client.get(reverse("patient-detail", args=[history["ada"].id])).status_code == 404
    for query in ("Ada", "W-000", "ACC-2026-0042"):
        body = html(client.get(reverse("patient-list"), {"q": query}))
        assert "VIEW-0001" not in body and "0 patients" in body
        assert "VIEW-0001" not in html(client.get(reverse("study-list"), {"q": query}))
    assert not AuditEvent.objects.filter(
        actor=bob, action__in=["patient.list", "study.list", "patient.view"]
    ).exists()


def test_no_role_is_refused_the_patient_pages(nobody: Any, history: dict[str, Any]) -> None:
    client = client_for(nobody)
    assert client.get(reverse("patient-list")).status_code == 403
    assert client.get(reverse("patient-detail", args=[history["ada"].id])).status_code == 403


@pytest.mark.parametrize("query", ["lovelace", "w-00", "acc-2026"])
def test_patient_search_by_name_partial_mrn_or_accession_is_audited(
    carol: Any, history: dict[str, Any], query: str
) -> None:
    body = html(client_for(carol).get(reverse("patient-list"), {"q": query}))
    assert "VIEW-0001" in body and "1 patient " in body
    event = AuditEvent.objects.get(action="patient.list", actor=carol)
    assert event.after["ids"] == [str(history["ada"].id)] and event.after["query"] == {"q": query}


def test_study_list_search_finds_by_accession_and_shows_age(alice: Any, history: dict[str, Any]) -> None:
    body = html(client_for(alice).get(reverse("study-list"), {"q": "acc-2026"}))
    assert str(history["current"].id) in body and str(history["prior"].id) not in body
    assert "5 y" in body and "ACC-2026-0042" in body
    assert AuditEvent.objects.get(action="study.list").after["ids"] == [str(history["current"].id)]


def test_patient_page_lists_studies_with_age_at_each_and_is_audited(
    alice: Any, history: dict[str, Any]
) -> None:
    ada = history["ada"]
    body = html(client_for(alice).get(reverse("patient-detail", args=[ada.id])))
    rows = body.split("<tbody>")[1]
    assert rows.index("2026-03-01") < rows.index("2025-03-01")  # most recent first
    assert "5 y" in rows and "4 y" in rows and "Fever for three days" in rows
    assert AuditEvent.objects.filter(action="patient.view", object_id=str(ada.id)).count() == 1
    listed = AuditEvent.objects.get(action="study.list")
    assert set(listed.after["ids"]) == {str(history["current"].id), str(history["prior"].id)}


def test_worklist_shows_age_accession_and_indication(carol: Any, history: dict[str, Any]) -> None:
    body = html(client_for(carol).get(reverse("worklist")))
    for heading in ('<th scope="col">Age</th>', "Accession</th>", "Indication</th>"):
        assert heading in body
    row = next(r for r in body.split("<tr") if "ACC-2026-0042" in r)
    assert "5 y" in row and "Fever for three days" in row


def test_a_radiologists_menu_reaches_studies_and_patients(carol: Any) -> None:
    nav = html(client_for(carol).get(reverse("worklist"))).split('class="mainnav"')[1].split("</nav>")[0]
    assert reverse("study-list") in nav and reverse("patient-list") in nav and reverse("worklist") in nav
    assert reverse("study-upload") not in nav


def test_a_department_colleague_sees_the_priors_and_the_patient(
    alice: Any, bob: Any, history: dict[str, Any]
) -> None:
    ward = Department.objects.create(name="Paediatrics")
    for user in (alice, bob):
        StaffProfile.objects.create(user=user, department=ward)
    Study.objects.filter(patient=history["ada"]).update(department=ward)
    client = client_for(bob)
    body = html(client.get(reverse("study-detail", args=[history["current"].id])))
    assert "ACC-PRIOR-7" in body.split('id="priors"')[1]
    assert "VIEW-0001" in html(client.get(reverse("patient-list"), {"q": "acc-prior"}))


def test_the_api_gives_the_age_at_study_and_searches_by_accession(
    alice: Any, bob: Any, history: dict[str, Any]
) -> None:
    current = history["current"]
    api = token_client(alice)
    assert api.get(reverse("api-study", args=[current.id])).json()["patient_age_at_study"] == "5 y"
    found = api.get(reverse("api-studies"), {"q": "acc-2026"}).json()["results"]
    assert [s["id"] for s in found] == [str(current.id)]
    patients = api.get(reverse("api-patients"), {"q": "ACC-2026"}).json()["results"]
    assert [p["mrn"] for p in patients] == ["VIEW-0001"]
    assert token_client(bob).get(reverse("api-patients"), {"q": "ACC-2026"}).json()["results"] == []
