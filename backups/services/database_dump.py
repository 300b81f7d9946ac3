"""The database part of a backup: pg_dump/pg_restore on PostgreSQL, SQLite's online backup otherwise."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from django.db import connections

from backups.services.errors import BackupError

PG_DUMP_FILE = "database.pgdump"
SQLITE_FILE = "database.sqlite3"


def pg_environment(db: dict[str, Any]) -> dict[str, str]:
    """libpq variables for pg_dump/pg_restore from a Django DATABASES entry (the password never in argv)."""
    env = {**os.environ, "PGDATABASE": str(db["NAME"])}
    for key, variable in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        if db.get(key):
            env[variable] = str(db[key])
    return env


def tool_version(tool: str) -> tuple[str, int]:
    """`pg_dump --version` → ("15.20", 15); a missing tool is a clear error."""
    path = shutil.which(tool)
    if path is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client).")
    text = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+)(?:\.(\d+))?", text)
    if match is None:
        raise BackupError(f"Cannot read the version of {tool}: {text!r}")
    return match.group(0), int(match.group(1))


def server_version(alias: str = "default") -> tuple[str, int]:
    """The PostgreSQL server's version, e.g. ("15.20", 15)."""
    number = connections[alias].pg_version  # e.g. 150020
    major, minor = divmod(number, 10000)
    return f"{major}.{minor}", major


def database_dump(*, out_dir: Path, alias: str = "default") -> dict[str, Any]:
    """Dump the database into out_dir; returns the manifest's `database` entry."""
    connection = connections[alias]
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        target = out_dir / SQLITE_FILE
        connection.ensure_connection()
        with sqlite3.connect(target) as copy:
            connection.connection.backup(copy)  # consistent online copy, WAL included
        copy.close()
        return {"engine": "sqlite", "file": SQLITE_FILE}
    if connection.vendor != "postgresql":
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {connection.vendor}.")
    tool, tool_major = tool_version("pg_dump")
    server, server_major = server_version(alias)
    if tool_major < server_major:
        # pg_dump refuses a newer server anyway; say which client to install.
        raise BackupError(
            f"pg_dump {tool} is older than the server ({server}): install postgresql-client-{server_major}."
        )
    target = out_dir / PG_DUMP_FILE
    # Custom format: compressed, restorable table by table; no owner or grants, so it restores into a
    # database owned by whoever restores it (the app role's grants are re-made by `db_roles`).
    command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"]
    result = subprocess.run(command, env=pg_environment(db), capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    return {"engine": "postgresql", "file": PG_DUMP_FILE, "pg_dump": tool, "server": server}


def database_is_empty(alias: str = "default") -> bool:
    """True when the target database has no tables yet (a fresh database to restore into)."""
    connection = connections[alias]
    if connection.vendor == "sqlite":
        name = Path(str(connection.settings_dict["NAME"]))
        return not name.exists() or name.stat().st_size == 0 or not connection.introspection.table_names()
    return not connection.introspection.table_names()


def database_restore(*, dump: Path, entry: dict[str, Any], alias: str = "default") -> None:
    """Load a dump into the (empty) configured database."""
    connection = connections[alias]
    db = connection.settings_dict
    if entry["engine"] == "sqlite":
        if connection.vendor != "sqlite":
            raise BackupError("This backup holds a SQLite database; restore it with the embedded default.")
        connection.close()
        name = Path(str(db["NAME"]))
        name.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):  # an empty file's journal must not be replayed over the copy
            Path(f"{name}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(dump, name)
        return
    if connection.vendor != "postgresql":
        raise BackupError(
            "This backup holds a PostgreSQL dump; set DATABASE_URL to a fresh PostgreSQL database."
        )
    tool_version("pg_restore")
    connection.close()
    command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    env = pg_environment(db)
    result = subprocess.run(
        [*command, f"--dbname={env['PGDATABASE']}", str(dump)], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
