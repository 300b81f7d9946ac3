"""portal.frozen_queries: a SELECT compiled once answers every later value exactly as the ORM would; a
written-out statement names the model's quoted table and columns."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from diagnosis.models import Image
from portal.frozen_queries import FrozenSelect, first_of
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
    from portal.frozen_queries import written_out

    sql = written_out(
        Study, "UPDATE {table} SET {rerun_requested_by} = NULL WHERE {id} = %s AND {status} = %s"
    )
    q = connection.ops.quote_name
    assert sql == (
        f"UPDATE {q(Study._meta.db_table)} SET {q('rerun_requested_by_id')} = NULL WHERE {q('id')} = %s"
        f" AND {q('status')} = %s"
    )
