"""#17: on PostgreSQL the settings bind parameters on the server and prepare a statement run 5 times on a
connection; DB_PREPARE_THRESHOLD tunes it, and -1 keeps the server binding without preparing (a pooler that
loses prepared statements). SQLite gets neither."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROBE = """
import json, django
django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({"engine": db["ENGINE"], "options": db.get("OPTIONS", {})}))
"""


def database_settings(**env: str) -> dict:
    """ENGINE and OPTIONS of the default database in a fresh process on the dev settings with `env`."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_PREPARE_THRESHOLD")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "portal.settings.dev", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


POSTGRES = "postgres://airspace@127.0.0.1:5432/airspace"  # settings only: nothing connects


@pytest.mark.parametrize(
    ("threshold", "expected"), [(None, 5), ("2", 2), ("0", 0), ("-1", None)], ids=["default", "2", "0", "off"]
)
def test_postgresql_binds_on_the_server_and_prepares_after_the_threshold(threshold, expected):
    env = {"DATABASE_URL": POSTGRES} | ({"DB_PREPARE_THRESHOLD": threshold} if threshold else {})
    found = database_settings(**env)
    assert found["engine"] == "portal.postgresql"
    assert found["options"]["server_side_binding"] is True
    assert found["options"]["prepare_threshold"] == expected


def test_sqlite_gets_neither_setting():
    found = database_settings()
    assert found["engine"] == "django.db.backends.sqlite3"
    assert "server_side_binding" not in found["options"] and "prepare_threshold" not in found["options"]
