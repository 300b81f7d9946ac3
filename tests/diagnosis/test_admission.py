"""Admission control under overload (#17): uploads wait as the queue's wait grows; nobody is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from diagnosis.models import Study
from diagnosis.services import admission
from tests.diagnosis.factories import StudyFactory

pytestmark = pytest.mark.django_db


def _read_afresh() -> None:
    admission._last.at = float("-inf")


@pytest.fixture
def backlog(settings: Any, alice: Any, monkeypatch: Any) -> Any:
    """Admission control on (1 s of the workers' work may wait, never fewer than 5 studies), and a way to
    queue n studies (the backlog read afresh)."""
    settings.AIRSPACE_UPLOAD_QUEUE_SECONDS = 1.0
    monkeypatch.setattr(admission, "MIN_BACKLOG", 5)
    _read_afresh()

    def queue(n: int) -> None:
        StudyFactory.create_batch(n, created_by=alice)
        _read_afresh()

    return queue


@pytest.fixture
def finished(alice: Any) -> Any:
    """n studies finished (completed, failed, rejected alike) evenly over the `over` seconds before now."""

    def finish(n: int, over: float, status: str = Study.Status.COMPLETED) -> None:
        studies = StudyFactory.create_batch(n, created_by=alice, status=status)
        now = timezone.now()  # after the rows are made: one UPDATE dates them (the read follows at once)
        for k, study in enumerate(studies):
            study.completed_at = now - timedelta(seconds=over * (n - k) / n)
        Study.objects.bulk_update(studies, ["completed_at"])
        _read_afresh()

    return finish


@pytest.fixture
def pauses(monkeypatch: Any) -> list[float]:
    """The waits the uploads asked for (the sleep itself is not the subject)."""
    asked: list[float] = []
    monkeypatch.setattr(admission.time, "sleep", asked.append)
    return asked


def test_the_rate_is_what_finished_over_the_time_it_took_and_over_1_s_at_least() -> None:
    now = timezone.now()
    assert admission.finished_rate(0, None, now) == 0.0
    assert admission.finished_rate(10, now - timedelta(seconds=4), now) == 2.5
    assert admission.finished_rate(3, now - timedelta(seconds=0.1), now) == 3.0  # not 30/s


def test_no_wait_below_min_backlog_whatever_the_rate(backlog: Any) -> None:
    backlog(5)  # no study finished yet: a burst from idle
    assert admission.backlog_now().finished_per_s == 0.0
    assert admission.upload_pause_seconds() == 0.0
    backlog(3)
    assert admission.upload_pause_seconds() == pytest.approx(0.06)  # 3 over
    backlog(100)
    assert admission.upload_pause_seconds() == admission.PAUSE_MAX_S


def test_the_limit_is_what_the_workers_finish_in_the_queue_seconds(backlog: Any, finished: Any) -> None:
    backlog(10)
    finished(40, over=4.0)  # 10 a second (a little less by the time it is read)
    assert admission.backlog_now().finished_per_s == pytest.approx(10.0, rel=0.05)
    assert admission.upload_pause_seconds() == 0.0  # 10 waiting: a second of work
    backlog(3)
    assert admission.upload_pause_seconds() == pytest.approx(0.06)  # limit ceil(1.0 x ~9.9) = 10: 3 over


def test_the_same_queue_waits_longer_on_slower_workers(settings: Any, backlog: Any, finished: Any) -> None:
    """What a count of studies could not do: 12 waiting is 0.5 s of work at 24/s, 2 s at 6/s."""
    backlog(12)
    finished(24, over=1.0)
    fast = admission.upload_pause_seconds()
    Study.objects.exclude(status=Study.Status.QUEUED).delete()
    finished(24, over=4.0)
    slow = admission.upload_pause_seconds()
    assert fast == 0.0 and slow == pytest.approx(0.12)  # limit 6 at ~6/s: 6 over
    settings.AIRSPACE_UPLOAD_QUEUE_SECONDS = 3.0
    assert admission.upload_pause_seconds() == 0.0  # 3 s may wait: ~18 is the limit


def test_only_recently_finished_studies_and_only_waiting_ones_count(backlog: Any, finished: Any) -> None:
    finished(50, over=60.0)  # within the window: ~4 of them
    finished(4, over=2.0, status=Study.Status.REJECTED)  # rejected ones were finished too
    backlog(8)
    Study.objects.filter(id__in=Study.objects.filter(status=Study.Status.QUEUED).values("id")[:2]).update(
        status=Study.Status.PROCESSING
    )
    _read_afresh()
    read = admission.backlog_now()
    assert read.queued == 6
    window = Study.objects.filter(
        completed_at__gte=timezone.now() - timedelta(seconds=admission.RATE_WINDOW_S)
    ).count()
    assert 4 < window < 12 and 1.0 < read.finished_per_s < 3.0
    assert admission.upload_pause_seconds() == pytest.approx(0.02)  # limit 5 (the minimum): 1 over


def test_the_backlog_is_read_once_per_interval_per_process(
    backlog: Any, django_assert_num_queries: Any
) -> None:
    backlog(7)
    with django_assert_num_queries(1):  # the waiting count, the finished count and the first of them
        assert admission.backlog_now(now=1000.0).queued == 7
        assert admission.backlog_now(now=1000.0 + admission.BACKLOG_READ_SECONDS / 2).queued == 7
    with django_assert_num_queries(1):
        assert admission.backlog_now(now=1000.0 + admission.BACKLOG_READ_SECONDS).queued == 7


def test_off_reads_nothing(settings: Any, django_assert_num_queries: Any) -> None:
    settings.AIRSPACE_UPLOAD_QUEUE_SECONDS = 0
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
