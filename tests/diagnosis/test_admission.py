"""Admission control under overload (#17): uploads wait as the backlog deepens; nobody is refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from diagnosis.models import Study
from diagnosis.services import admission
from tests.diagnosis.factories import StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def backlog(settings: Any, alice: Any) -> Any:
    """Admission control on with a limit of 5, and a way to queue n studies (the depth read afresh)."""
    settings.AIRSPACE_UPLOAD_BACKLOG = 5
    admission._depth_read["at"] = float("-inf")

    def queue(n: int) -> None:
        StudyFactory.create_batch(n, created_by=alice)
        admission._depth_read["at"] = float("-inf")

    return queue


@pytest.fixture
def pauses(monkeypatch: Any) -> list[float]:
    """The waits the uploads asked for (the sleep itself is not the subject)."""
    asked: list[float] = []
    monkeypatch.setattr(admission.time, "sleep", asked.append)
    return asked


def test_no_wait_up_to_the_limit_then_20_ms_per_study_over_it_at_most_250_ms(backlog: Any) -> None:
    backlog(5)
    assert admission.upload_pause_seconds() == 0.0
    backlog(3)
    assert admission.upload_pause_seconds() == pytest.approx(0.06)
    backlog(100)
    assert admission.upload_pause_seconds() == admission.PAUSE_MAX_S


def test_only_waiting_studies_count(backlog: Any) -> None:
    backlog(8)
    Study.objects.filter(id__in=Study.objects.values("id")[:4]).update(status=Study.Status.PROCESSING)
    admission._depth_read["at"] = float("-inf")
    assert admission.queued_depth() == 4 and admission.upload_pause_seconds() == 0.0


def test_the_depth_is_read_once_per_interval_per_process(
    backlog: Any, django_assert_num_queries: Any
) -> None:
    backlog(7)
    with django_assert_num_queries(1):
        assert admission.queued_depth(now=1000.0) == 7
        assert admission.queued_depth(now=1000.0 + admission.DEPTH_READ_SECONDS / 2) == 7
    with django_assert_num_queries(1):
        assert admission.queued_depth(now=1000.0 + admission.DEPTH_READ_SECONDS) == 7


def test_off_reads_nothing(settings: Any, django_assert_num_queries: Any) -> None:
    settings.AIRSPACE_UPLOAD_BACKLOG = 0
    with django_assert_num_queries(0):
        assert admission.upload_pause_seconds() == 0.0


def test_an_api_upload_over_the_limit_is_stored_queued_and_answered_after_its_wait(
    api: Any, alice: Any, xray_bytes: bytes, backlog: Any, pauses: list[float]
) -> None:
    backlog(9)
    api.force_authenticate(alice)
    payload = {
        "image": SimpleUploadedFile("chest.jpg", xray_bytes, content_type="image/jpeg"),
        "patient_mrn": "MRN-7",
    }
    response = api.post("/api/v1/studies/", payload, format="multipart")
    assert response.status_code == 201
    assert Study.objects.get(id=response.json()["id"]).status == Study.Status.QUEUED
    assert pauses == [pytest.approx(0.10)]  # 10 waiting, this one included: 5 over the limit of 5
    # The same request again (Idempotency-Key): nothing new is queued, and nothing waits.
    key = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    payload["image"] = SimpleUploadedFile("chest.jpg", xray_bytes, content_type="image/jpeg")
    first = api.post("/api/v1/studies/", payload, format="multipart", **key)
    payload["image"] = SimpleUploadedFile("chest.jpg", xray_bytes, content_type="image/jpeg")
    again = api.post("/api/v1/studies/", payload, format="multipart", **key)
    assert (first.status_code, again.status_code) == (201, 200) and len(pauses) == 2


def test_the_upload_page_waits_too_and_below_the_limit_nothing_waits(
    client: Any, alice: Any, xray_bytes: bytes, backlog: Any, pauses: list[float]
) -> None:
    client.force_login(alice)
    form = {"patient_mrn": "MRN-8", "priority": "routine"}
    image = SimpleUploadedFile("chest.jpg", xray_bytes, content_type="image/jpeg")
    assert client.post("/studies/new/", {**form, "image": image}).status_code == 302
    assert pauses == []  # one study waiting, the limit is 5
    backlog(10)
    image = SimpleUploadedFile("chest.jpg", xray_bytes, content_type="image/jpeg")
    assert client.post("/studies/new/", {**form, "image": image}).status_code == 302
    assert pauses == [pytest.approx(0.14)]  # 12 waiting, both uploads included: 7 over
