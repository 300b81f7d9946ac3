"""Settings for pytest: the embedded default or, with DATABASE_URL/REDIS_URL, the real services."""

from __future__ import annotations

import os
import time
from pathlib import Path

from portal.settings.dev import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = True
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "1000/min"}}  # noqa: F405
# Off unless a test turns it on (tests/diagnosis/test_admission.py): a test's queued studies wait for no
# worker, and the statement counts of an upload leave out its one cached read.
AIRSPACE_UPLOAD_QUEUE_SECONDS = 0.0
# Tests keep their media apart from a developer's var/media (the worker subprocess gets the same path).
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
AIRSPACE_AUDIT_ANCHOR_FILE = VAR_DIR / "test-audit-anchors.jsonl"  # noqa: F405
# The embedded broker too: tasks a test run leaves behind must never reach a later `make run` worker.
CELERY_BROKER_DIR = VAR_DIR / "test-broker"  # noqa: F405
if CELERY_BROKER_URL == "filesystem://":  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(CELERY_BROKER_DIR)  # noqa: F405
    (CELERY_BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
# Fault tests only: a worker holds its processing claim while the file AIRSPACE_TEST_HOLD_FILE names
# exists, so it can be killed mid-prediction or run into its time limit. base.py sets the hook to None.
_TEST_HOLD_FILE = os.environ.get("AIRSPACE_TEST_HOLD_FILE", "")


def _hold_while_file_exists() -> None:
    """Called by prediction_run between claiming a study and predicting it."""
    while _TEST_HOLD_FILE and Path(_TEST_HOLD_FILE).exists():
        time.sleep(0.1)


AIRSPACE_BEFORE_PREDICT_HOOK = _hold_while_file_exists if _TEST_HOLD_FILE else None
# Parallel test runs (several developers on one machine) each name their own database.
_test_db = os.environ.get("AIRSPACE_TEST_DB_NAME")
if _test_db and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": _test_db}  # noqa: F405
