"""Rows written at the old schema (everything in diagnosis) read back through the apps they moved to."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.fixtures.migrations import historical_prediction

# Before the split: diagnosis held Review, AuditEvent and AuditAnchor; audit and reading did not exist.
OLD_SCHEMA = [("diagnosis", "0008_audit_no_truncate"), ("audit", None), ("reading", None)]


def _migrate(targets: list[tuple[str, str | None]]) -> Any:
    """Migrate the test database to these targets; the historical apps registry of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


@pytest.fixture
def old_schema() -> Iterator[Any]:
    """The database migrated back to the old schema; always migrated forward again afterwards."""
    try:
        yield _migrate(OLD_SCHEMA)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def _fill_old_schema(apps: Any) -> dict[str, Any]:
    """One of each moved record, written through the historical (pre-split) models."""
    user, study, prediction = historical_prediction(apps, username="old-reader", mrn="OLD-1")
    review = apps.get_model("diagnosis", "Review").objects.create(
        study=study,
        prediction=prediction,
        reviewer=user,
        decision="override",
        final_label="NORMAL",
        reason="false_alarm",
    )
    event = apps.get_model("diagnosis", "AuditEvent").objects.create(
        created_at=timezone.now(),
        actor=user,
        actor_username=user.username,
        action="review.sign",
        object_type="study",
        object_id=str(study.id),
        prev_hash="0" * 64,
        hash=uuid.uuid4().hex * 2,
    )
    anchor = apps.get_model("diagnosis", "AuditAnchor").objects.create(
        event=event, head_hash=event.hash, signature="s" * 64
    )
    return {"study": study.id, "review": review.id, "event": event.id, "anchor": anchor.id}


@pytest.mark.django_db(transaction=True)
def test_old_rows_read_back_through_reading_and_audit(old_schema: Any) -> None:
    """Review, AuditEvent and AuditAnchor rows survive the move with their ids and relations."""
    ids = _fill_old_schema(old_schema)
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from audit.models import AuditAnchor, AuditEvent
    from diagnosis.models import Study
    from reading.models import Review

    review = Review.objects.select_related("study__patient", "prediction").get(id=ids["review"])
    assert (review.final_label, review.reason, review.study.patient.mrn) == ("NORMAL", "false_alarm", "OLD-1")
    assert review.prediction.model_version == "old-1"
    assert list(Study.objects.get(id=ids["study"]).reviews.all()) == [review]
    anchor = AuditAnchor.objects.select_related("event").get(id=ids["anchor"])
    assert anchor.event_id == ids["event"] and anchor.head_hash == anchor.event.hash
    assert AuditEvent.objects.get(id=ids["event"]).actor.username == "old-reader"


@pytest.mark.django_db(transaction=True)
def test_the_audit_trail_stays_append_only_after_the_move(old_schema: Any) -> None:
    """On PostgreSQL the trigger still refuses UPDATE and DELETE on the moved audit tables."""
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL-only")
    ids = _fill_old_schema(old_schema)
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from audit.models import AuditAnchor, AuditEvent

    for queryset in (
        AuditEvent.objects.filter(id=ids["event"]),
        AuditAnchor.objects.filter(id=ids["anchor"]),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            queryset.update(created_at=timezone.now()) if queryset.model is AuditEvent else queryset.delete()
