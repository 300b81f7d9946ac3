"""portal.frozen_queries: a SELECT compiled once answers every later value exactly as the ORM would; a
written-out statement names the model's quoted table and columns."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from diagnosis.models import Image, Study
from portal.frozen_queries import (
    FrozenSelect,
    execute_without_flush_wait,
    first_of,
    key_value,
    statements_cursor,
    written_out,
)
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db(transaction=True)


def _images(study_id: object) -> object:
    return Image.objects.select_related("study__patient").filter(study_id=study_id).order_by("created_at")


def _seen(rows: list[Image]) -> list[tuple]:
    return [(i.id, i.sha256, i.study.id, i.study.status, i.study.patient.mrn, i.meta) for i in rows]


def test_each_value_gets_the_orms_rows_and_related_models_from_one_compilation(alice):
    first, second = completed_study(created_by=alice), completed_study(created_by=alice)
    frozen = FrozenSelect(_images, uuid.UUID(int=1))
    for study in (first, second, first):
        assert _seen(frozen.fetch(study.id)) == _seen(list(_images(study.id))) != []
        assert _seen(frozen.fetch(str(study.id))) == _seen(list(_images(study.id)))  # an id as text
    assert frozen.fetch(uuid.uuid4()) == []
    assert len(frozen._compiled) == 1
    latest = FrozenSelect(
        lambda study_id: first_of(Image.objects.filter(study_id=study_id)), uuid.UUID(int=1)
    )
    assert latest.first(second.id) == Image.objects.filter(study_id=second.id).first()
    assert latest.first(uuid.uuid4()) is None


def test_other_threads_use_their_own_connection(alice):
    study = completed_study(created_by=alice)
    frozen = FrozenSelect(_images, uuid.UUID(int=1))
    assert frozen.fetch(study.id)  # compiled on this thread's connection

    def elsewhere() -> tuple[int, bool]:
        try:
            return len(frozen.fetch(study.id)), connection.in_atomic_block
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        assert [f.result() for f in [pool.submit(elsewhere) for _ in range(4)]] == [(1, False)] * 4


def test_a_placeholder_must_appear_exactly_once(alice):
    both = FrozenSelect(lambda v: Image.objects.filter(sha256=v, original_filename=v), "<same>")
    with pytest.raises(ValueError, match="appears 2 times"):
        both.fetch("x")


def test_written_out_names_the_models_quoted_table_and_columns():
    from django.db import connection

    from diagnosis.models import Study

    sql = written_out(
        Study, "UPDATE {table} SET {rerun_requested_by} = NULL WHERE {id} = %s AND {status} = %s"
    )
    q = connection.ops.quote_name
    assert sql == (
        f"UPDATE {q(Study._meta.db_table)} SET {q('rerun_requested_by_id')} = NULL WHERE {q('id')} = %s"
        f" AND {q('status')} = %s"
    )


def _stored(model: type, pk: object) -> dict:
    """Every column of one row, as the database holds it."""
    return model.objects.filter(pk=pk).values(*[f.attname for f in model._meta.concrete_fields]).get()


def _prediction(existing: Any, **fields: Any) -> Any:
    """An unsaved prediction of `existing`'s study and image (model "m"), with `fields` set."""
    from diagnosis.models import Prediction

    values = {
        "model_version": "m",
        "probability": 0.25,
        "label": "NORMAL",
        "confidence": 0.75,
        "threshold": 0.5,
        "input_stats": {"mean": 0.5},
        "flags": ["f"],
        "heatmap": "studies/h.png",
    }
    return Prediction(study=existing.study, image=existing.image, **(values | fields))


def test_insert_row_stores_exactly_what_save_stores(alice):
    """The hot paths' INSERT (audit events, studies, images, predictions) against Model.save(force_insert)
    on twin instances: the same stored values column by column, the auto primary key returned."""
    from audit.models import AuditEvent
    from diagnosis.models import Study
    from portal.frozen_queries import insert_row

    study = completed_study(created_by=alice)
    prediction = study.predictions.get()
    twins = [
        lambda k: AuditEvent(
            action="t.x",
            actor=alice,
            actor_username="alice",
            after={"a": [1, "b"]},
            seq=None,
            prev_hash="0" * 64,
            hash=uuid.uuid4().hex * 2,
            created_at=study.created_at,
        ),
        lambda k: Study(patient=study.patient, created_by=alice, warnings=["w"], clinical_notes="n"),
        lambda k: Image(
            study=study,
            file="studies/x.png",
            sha256="a" * 64,
            size_bytes=3,
            width=4,
            height=5,
            format="PNG",
            meta={"flags": ["x"]},
        ),
        lambda k: _prediction(prediction, run_number=prediction.run_number + k),
    ]
    for make in twins:
        saved, inserted = make(1), make(2)
        saved.save(force_insert=True)
        insert_row(inserted)
        assert inserted.pk is not None and not inserted._state.adding
        ours, theirs = _stored(type(saved), inserted.pk), _stored(type(saved), saved.pk)
        differing = {k for k in ours if ours[k] != theirs[k]}
        # Timestamps taken at save time differ by microseconds; the keys and the hash were made to differ.
        moments = {
            f.attname for f in type(saved)._meta.concrete_fields if f.get_internal_type() == "DateTimeField"
        }
        allowed = {"id", "run_number", "hash"} | moments
        assert differing <= allowed, {k: (ours[k], theirs[k]) for k in differing - allowed}


def test_insert_statement_stores_what_save_stores_also_as_a_select_from_a_source(alice):
    """The statements sent with others (#17): an INSERT of values, and an INSERT ... SELECT from a source
    that inserts one row per row of it (the worker makes its prediction depend on its claim this way)."""
    from audit.models import AuditEvent
    from diagnosis.models import Prediction
    from portal.frozen_queries import insert_statement, mark_inserted

    study = completed_study(created_by=alice)
    prediction = study.predictions.get()

    def make(k: int) -> Prediction:
        return _prediction(
            prediction,
            run_number=prediction.run_number + k,
            probability=0.75,
            label="PNEUMONIA",
            indeterminate=True,
            logit=-1.5,
            input_stats={"mean": 0.5, "q": [1, None]},
        )

    saved, values, selected, none = make(1), make(2), make(3), make(4)
    saved.save(force_insert=True)
    with connection.cursor() as cursor:
        cursor.execute(*insert_statement(values))
        if (
            connection.vendor == "postgresql"
        ):  # SQLite cannot take a CTE's rows this way; only PostgreSQL does
            sql, params = insert_statement(selected, source="(SELECT 1) AS one")
            cursor.execute(sql, params)
            assert cursor.rowcount == 1
            sql, params = insert_statement(none, source="(SELECT 1 WHERE false) AS nothing")
            cursor.execute(sql, params)
            assert cursor.rowcount == 0
    rows = [values, selected] if connection.vendor == "postgresql" else [values]
    for row in rows:
        mark_inserted(row)
        assert not row._state.adding
        ours, theirs = _stored(Prediction, row.pk), _stored(Prediction, saved.pk)
        assert {k for k in ours if ours[k] != theirs[k]} <= {"id", "run_number", "created_at"}
    assert not Prediction.objects.filter(pk=none.pk).exists()
    with pytest.raises(TypeError, match="assigns its key"):
        insert_statement(AuditEvent(action="t.x"))  # its id comes from a sequence


def test_insert_row_unless_exists_skips_a_duplicate_and_says_so(alice):
    from notifications.models import NotificationEvent
    from portal.frozen_queries import insert_row

    study = completed_study(created_by=alice)
    first, again = (NotificationEvent(kind="study_arrived", study=study) for _ in range(2))
    assert insert_row(first, unless_exists=("kind", "study", "source_key")) and first.pk is not None
    assert not insert_row(again, unless_exists=("kind", "study", "source_key")) and again._state.adding
    assert NotificationEvent.objects.filter(study=study).count() == 1


def test_execute_without_flush_wait_commits_its_statement_alone_and_leaves_no_setting(alice):
    study = completed_study(created_by=alice)
    key = key_value(Study, study.id)
    if connection.vendor == "postgresql":
        # The WHERE clause sees the setting its own transaction commits with.
        sql = "UPDATE {table} SET {attempts} = 7 WHERE {id} = %s AND current_setting('synchronous_commit') = 'off'"
    else:  # SQLite has no such setting: the statement runs as it is
        sql = "UPDATE {table} SET {attempts} = 7 WHERE {id} = %s"
    assert execute_without_flush_wait(written_out(Study, sql), [key]) == 1
    study.refresh_from_db()
    assert study.attempts == 7
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # SET LOCAL ended with its transaction
            cursor.execute("SELECT current_setting('synchronous_commit')")
            assert cursor.fetchone() == ("on",)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")
def test_execute_without_flush_wait_inside_a_transaction_keeps_the_callers_durability(alice):
    study = completed_study(created_by=alice)
    sql = written_out(Study, "UPDATE {table} SET {attempts} = {attempts} + 1 WHERE {id} = %s")
    with transaction.atomic():
        assert execute_without_flush_wait(sql, [study.id]) == 1
        with connection.cursor() as cursor:  # no SET LOCAL reached the caller's transaction
            cursor.execute("SELECT current_setting('synchronous_commit')")
            assert cursor.fetchone() == ("on",)
    study.refresh_from_db()
    assert study.attempts == 1


_ONLY_POSTGRESQL = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's binding")


@_ONLY_POSTGRESQL
def test_a_statement_run_five_times_on_a_connection_runs_prepared_on_the_server(alice):
    study = completed_study(created_by=alice)
    sql = written_out(Study, "SELECT {status} FROM {table} WHERE {id} = %s")
    with connection.cursor() as cursor:
        for _ in range(6):
            cursor.execute(sql, [study.id])
            assert cursor.fetchone() == (study.status,)
        # The server's list of this session's prepared statements holds it, with its parameter unbound.
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert sql.replace("%s", "$1") in prepared


@_ONLY_POSTGRESQL
def test_a_message_of_several_statements_with_parameters_takes_the_statements_cursor(alice):
    study = completed_study(created_by=alice)
    key = key_value(Study, study.id)
    sql = written_out(Study, "UPDATE {table} SET {attempts} = %s WHERE {id} = %s; SELECT %s")
    # The connection's own cursors bind on the server, which takes one statement per such message.
    with pytest.raises(DatabaseError, match="multiple commands"), connection.cursor() as cursor:
        cursor.execute(sql, [3, key, "ok"])
    with statements_cursor() as cursor:
        cursor.execute(sql, [3, key, "ok"])
        assert cursor.rowcount == 1
        cursor.nextset()
        assert cursor.fetchone() == ("ok",)
    study.refresh_from_db()
    assert study.attempts == 3


def test_the_statements_cursor_runs_a_statement_on_every_backend(alice):
    study = completed_study(created_by=alice)
    with statements_cursor() as cursor:
        cursor.execute(
            written_out(Study, "SELECT {status} FROM {table} WHERE {id} = %s"), [key_value(Study, study.id)]
        )
        assert cursor.fetchone() == (study.status,)
