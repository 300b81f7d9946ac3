"""portal.postgresql: the health check reuses an idle connection without a query, and still notices a
backend the server terminated (the next request reconnects instead of failing)."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import close_old_connections, connection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's health check"),
]


def _server(sql: str, *params: object) -> list[tuple]:
    """Run `sql` on a connection of its own (as the server sees our backend from outside)."""
    db = settings.DATABASES["default"]
    with psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        user=db["USER"],
        host=db["HOST"],
        port=db["PORT"] or 5432,
        autocommit=True,
    ) as other:
        return other.execute(sql, params).fetchall()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_the_engine_is_the_projects_backend():
    assert settings.DATABASES["default"]["ENGINE"] == "portal.postgresql"


def test_an_idle_healthy_connection_is_usable_without_a_query():
    pid = _backend_pid()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'marker'")
    assert connection.is_usable()
    # The server's record of our backend's last statement: the marker, not a SELECT 1.
    assert _server("SELECT query FROM pg_stat_activity WHERE pid = %s", pid) == [("SELECT 'marker'",)]


def test_a_terminated_backend_is_not_usable_and_the_next_query_reconnects():
    pid = _backend_pid()
    assert _server("SELECT pg_terminate_backend(%s)", pid) == [(True,)]
    _server("SELECT pg_sleep(0.2)")  # the server's goodbye reaches our socket
    assert not connection.is_usable()
    close_old_connections()  # what Django runs as a request (or, here, a Celery task) starts
    assert _backend_pid() != pid
