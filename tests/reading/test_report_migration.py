"""Reads signed before reports existed get their report versions (the PDF drawn on first download)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.fixtures.migrations import historical_prediction

BEFORE = [("reading", "0001_initial")]
AFTER = [("reading", "0002_report")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate reading to the target; the historical models of every other app at its latest."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "reading"]
    return executor.loader.project_state([*others, *targets]).apps


@pytest.fixture
def before_reports() -> Iterator[Any]:
    """The database without the report table; migrated forward to every leaf afterwards."""
    try:
        yield _migrate(BEFORE)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_signed_and_amended_reads_get_current_and_superseded_reports(before_reports: Any) -> None:
    apps = before_reports
    user, study, prediction = historical_prediction(apps, username="early-reader", mrn="EARLY-1")
    Review = apps.get_model("reading", "Review")
    first = Review.objects.create(
        study=study,
        prediction=prediction,
        reviewer=user,
        decision="agree",
        final_label="PNEUMONIA",
        ai_label="PNEUMONIA",
        is_current=False,
    )
    second = Review.objects.create(
        study=study,
        prediction=prediction,
        reviewer=user,
        decision="override",
        final_label="NORMAL",
        ai_label="PNEUMONIA",
        reason="false_alarm",
        version=2,
        previous=first,
        amendment_reason="thymus",
    )
    Review.objects.filter(id=second.id).update(signed_at=timezone.now() + timedelta(hours=1))
    Report = _migrate(AFTER).get_model("reading", "Report")
    reports = {r.version: r for r in Report.objects.filter(study_id=study.id)}
    assert (reports[1].status, reports[2].status) == ("superseded", "current")
    assert reports[1].review_id == first.id and reports[2].review_id == second.id
    assert reports[1].superseded_at == Review.objects.get(id=second.id).signed_at  # when v2 was signed
    assert reports[2].superseded_at is None and reports[2].sha256 == "" and not reports[2].pdf
