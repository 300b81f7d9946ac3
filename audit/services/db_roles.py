"""The application's PostgreSQL role: no ownership, and on the audit tables only INSERT and SELECT.

Migrations run as the owner (the role that created the tables); the portal runs as this role. A role that
does not own a table cannot ALTER it (so it cannot disable the append-only triggers), and without the
TRUNCATE, UPDATE and DELETE privileges it cannot cut or rewrite the audit trail whatever the triggers do.
`manage.py db_roles` applies this idempotently after every `migrate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from psycopg import sql

from audit.models import AuditAnchor, AuditEvent

AUDIT_TABLES = (AuditEvent._meta.db_table, AuditAnchor._meta.db_table)
# Everything the portal does to its other tables; never TRUNCATE, REFERENCES or TRIGGER.
_APP_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


@dataclass(frozen=True)
class RoleGrants:
    """What db_roles did: the role, whether it was created now, and the audit tables it guards."""

    role: str
    created: bool
    audit_tables: tuple[str, ...]


def _run(statement: sql.Composable, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection), params)


def db_roles_apply(*, app_role: str, password: str | None = None) -> RoleGrants:
    """Create (or fix) the app role and grant exactly what the portal needs; run as the tables' owner."""
    if connection.vendor != "postgresql":
        raise ValueError("Database roles exist on PostgreSQL only (the embedded SQLite has no roles).")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database()")
        owner, database = cursor.fetchone()
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role])
        exists = cursor.fetchone() is not None
    if app_role == owner:
        raise ValueError(f"The app role must not be the owner ({owner}) that runs this command.")
    role = sql.Identifier(app_role)
    if not exists:
        _run(sql.SQL("CREATE ROLE {} LOGIN").format(role))
    # 1. A plain login role: no superuser, no role or database creation, no bypass of row security.
    _run(
        sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS").format(
            role
        )
    )
    if password:
        _run(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(password)))
    # 2. Never a member of the owner role (membership would hand it the owner's rights).
    _run(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(owner), role))
    _run(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role))
    _run(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
    _run(sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(role))
    # 3. Tables: start from nothing, then grant; audit tables lose UPDATE and DELETE again.
    _run(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(role))
    _run(sql.SQL(f"GRANT {_APP_TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO {{}}").format(role))
    tables = sql.SQL(", ").join(sql.Identifier(name) for name in AUDIT_TABLES)
    _run(sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(tables, role))
    # 4. Sequences: nextval (USAGE) and reading their state for pg_dump (SELECT); never setval (UPDATE).
    _run(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(role))
    _run(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(role))
    # 5. Tables a later `migrate` creates get the same grants until db_roles runs again.
    _run(
        sql.SQL(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {_APP_TABLE_PRIVILEGES} ON TABLES TO {{}}"
        ).format(role)
    )
    _run(
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}").format(
            role
        )
    )
    return RoleGrants(role=app_role, created=not exists, audit_tables=AUDIT_TABLES)
