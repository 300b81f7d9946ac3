"""Fixed-shape SELECTs compiled once per process (#17): the ORM's SQL and row-to-model mapping, minus the build.

Building a statement (filters, joins, select_related columns) costs Django 0.3-0.9 ms of CPU each time, more
than running it. A `FrozenSelect` builds its QuerySet once with placeholder values, keeps the compiler
(its SQL, columns and related-model layout) and, per call, swaps the real values into the parameters and
lets the ORM run and map the rows as usual: the same SQL, the same model instances. `written_out` is the
one way the hot paths spell a hand-written UPDATE or INSERT: model field names, resolved to quoted columns;
`insert_row` is Model.save(force_insert=True) with its INSERT built once per model.
"""

from __future__ import annotations

import copy
import functools
import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import NOT_PROVIDED, QuerySet


class FrozenSelect:
    """`FrozenSelect(build, *placeholders)`; `.fetch(*values)` is `list(build(*values))`, compiled once."""

    def __init__(self, build: Callable[..., QuerySet], *placeholders: Any) -> None:
        self._build = build
        self._placeholders = placeholders
        self._compiled: dict[tuple[str, str], tuple[QuerySet, Any, str, list[Any], list[int]]] = {}
        self._lock = threading.Lock()

    def _compile(self, using: str) -> tuple[QuerySet, Any, str, list[Any], list[int]]:
        connection = connections[using]
        key = (using, connection.settings_dict["NAME"])
        compiled = self._compiled.get(key)
        if compiled is None:
            template = self._build(*self._placeholders)
            compiler = template.query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            params = list(params)
            positions = []
            for placeholder in self._placeholders:
                prepared = [i for i, p in enumerate(params) if p == _prepared(placeholder, connection)]
                if len(prepared) != 1:  # a value must appear once to be swapped safely
                    raise ValueError(f"placeholder {placeholder!r} appears {len(prepared)} times")
                positions.append(prepared[0])
            compiled = (template, compiler, sql, params, positions)
            with self._lock:
                self._compiled[key] = compiled
        return compiled

    def fetch(self, *values: Any, using: str = "default") -> list[Any]:
        """The rows `build(*values)` would give, as model instances."""
        template, compiler, sql, params, positions = self._compile(using)
        connection = connections[using]
        params = list(params)
        for position, value, placeholder in zip(positions, values, self._placeholders, strict=True):
            if not isinstance(value, type(placeholder)):  # e.g. a study id given as text
                value = type(placeholder)(value)
            params[position] = _prepared(value, connection)
        bound = copy.copy(compiler)
        bound.connection = connection  # this thread's connection
        bound.as_sql = lambda *args, **kwargs: (sql, tuple(params))
        queryset = template._chain()
        queryset.query.get_compiler = lambda *args, **kwargs: bound
        return list(queryset)

    def first(self, *values: Any, using: str = "default") -> Any:
        """The first row `build(*values)` gives (build it with first_of), or None."""
        rows = self.fetch(*values, using=using)
        return rows[0] if rows else None


def first_of(queryset: QuerySet) -> QuerySet:
    """What `queryset.first()` runs: its own order, else by primary key, one row."""
    return (queryset if queryset.ordered else queryset.order_by("pk"))[:1]


def _prepared(value: Any, connection: Any) -> Any:
    """A value as the compiler puts it in the parameters (a UUID as the backend stores it)."""
    if isinstance(value, uuid.UUID) and not connection.features.has_native_uuid_field:
        return value.hex
    return value


class _Columns(dict):
    """`{table}` and `{field_name}` placeholders resolved to the model's quoted table and column names."""

    def __init__(self, model: Any, connection: Any) -> None:
        super().__init__()
        self.model, self.quote = model, connection.ops.quote_name

    def __missing__(self, key: str) -> str:
        meta = self.model._meta
        return self.quote(meta.db_table if key == "table" else meta.get_field(key).column)


@functools.cache
def _written_out(model: Any, template: str, vendor: str) -> str:
    return template.format_map(_Columns(model, connections["default"]))


def written_out(model: Any, template: str) -> str:
    """A hand-written statement for the hot paths where building the ORM's cost more than running it:
    `{table}` and each `{field_name}` become the model's quoted names (a foreign key its `_id` column);
    formatted once per process."""
    return _written_out(model, template, connections["default"].vendor)


def key_value(model: Any, value: Any) -> Any:
    """A primary key as the database takes it in a written-out statement (a UUID as hex text on SQLite)."""
    pk = model._meta.pk
    return pk.get_db_prep_value(pk.to_python(value), connections["default"])


@functools.cache
def _insert_statement(
    model: Any, vendor: str, unless_exists: tuple[str, ...]
) -> tuple[str, tuple[Any, ...], bool]:
    """The INSERT of every concrete column (an auto primary key is left to the database and returned);
    with unless_exists, one that skips a row duplicating those fields (ON CONFLICT DO NOTHING)."""
    meta = model._meta
    if meta.parents:
        raise TypeError(f"{model.__name__}: multi-table inheritance, not insertable by insert_row")
    auto_pk = meta.pk if getattr(meta.pk, "db_returning", False) else None
    fields = tuple(f for f in meta.concrete_fields if f is not auto_pk)
    for field in fields:  # what Model.save would treat specially; none of the hot-path models has them
        if hasattr(field, "get_placeholder") or getattr(field, "generated", False):
            raise TypeError(f"{model.__name__}.{field.name}: not insertable by insert_row")
        if field.db_default is not NOT_PROVIDED:
            raise TypeError(
                f"{model.__name__}.{field.name}: a database default, not insertable by insert_row"
            )
    quote = connections["default"].ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
    )
    if unless_exists:
        columns = ", ".join(quote(meta.get_field(name).column) for name in unless_exists)
        sql += f" ON CONFLICT ({columns}) DO NOTHING"
    if auto_pk is not None:
        sql += f" RETURNING {quote(auto_pk.column)}"
    return sql, fields, auto_pk is not None


def insert_row(instance: Any, *, unless_exists: tuple[str, ...] = ()) -> bool:
    """`instance.save(force_insert=True)` for the hot paths, without compiling the INSERT each time: the same
    values (each field's pre_save and get_db_prep_save, as Model.save takes them), one statement, the auto
    primary key set from RETURNING. No save signals are sent (the hot-path models have no receivers).

    unless_exists names the fields of a unique constraint: a row duplicating them is skipped instead of
    raising (one statement where get_or_create took a SELECT, a savepoint and an INSERT). Whether the row
    was inserted; a skipped instance stays unsaved."""
    connection = connections["default"]
    sql, fields, returns_pk = _insert_statement(type(instance), connection.vendor, unless_exists)
    params = _insert_params(instance, fields, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone() if returns_pk else None
        inserted = row is not None if returns_pk else cursor.rowcount == 1
    if not inserted:
        return False
    if row is not None:
        instance.pk = row[0]
    mark_inserted(instance)
    return True


def _insert_params(instance: Any, fields: tuple[Any, ...], connection: Any) -> list[Any]:
    return [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]


def insert_statement(instance: Any, *, source: str = "") -> tuple[str, list[Any]]:
    """insert_row's INSERT as (sql, params), for a caller that sends it with other statements (#17): one row,
    or with `source` (a FROM clause, e.g. a CTE's name) one row per row of it, so that the INSERT depends on
    another statement in the same one. Models whose primary key the database assigns are refused (the
    key would not be set); mark_inserted marks the instance saved once the statement ran."""
    connection = connections["default"]
    sql, fields, returns_pk = _insert_statement(type(instance), connection.vendor, ())
    if returns_pk:
        raise TypeError(f"{type(instance).__name__}: the database assigns its key, use insert_row")
    if source:
        columns, values = sql.split(" VALUES (", 1)
        sql = f"{columns} SELECT {values.removesuffix(')')} FROM {source}"
    return sql, _insert_params(instance, fields, connection)


def mark_inserted(instance: Any) -> None:
    """Mark an instance inserted by its insert_statement as saved (what insert_row does)."""
    instance._state.adding = False
    instance._state.db = connections["default"].alias


def statements_cursor() -> Any:
    """A cursor for one message of several statements with parameters: on PostgreSQL one that binds on the
    client (the connection's own bind on the server, one statement per message), elsewhere the usual one."""
    connection = connections["default"]
    make = getattr(connection, "statements_cursor", connection.cursor)
    return make()


# The commit of a statement run by `execute_without_flush_wait` returns before its WAL reaches the disk.
_NO_FLUSH_WAIT = "SET LOCAL synchronous_commit TO off; "


def execute_without_flush_wait(sql: str, params: list[Any]) -> int:
    """Run one statement in its own transaction whose commit does not wait for the WAL flush; the rows it
    changed.

    For bookkeeping that a database crash may lose without harm (a processing claim or a worker's
    reservation: the study is then queued again and the sweeper or the broker redelivers it), never for a
    result or an audit event. The next ordinary commit on the server flushes it with its own WAL. Each
    such commit waited 1.2-1.7 ms for the disk here, time its worker sat idle (#17). Inside a transaction,
    or on SQLite, the statement runs as it is: the setting would reach the caller's whole transaction.
    """
    connection = connections["default"]
    deferred = connection.vendor == "postgresql" and connection.get_autocommit()
    with statements_cursor() as cursor:
        if not deferred:
            cursor.execute(sql, params)
            return cursor.rowcount
        # Two statements in one message run as one implicit transaction: SET LOCAL holds until its commit.
        cursor.execute(_NO_FLUSH_WAIT + sql, params)
        cursor.nextset()
        return cursor.rowcount
