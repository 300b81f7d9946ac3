"""Issue #16 (make run): the test settings' embedded broker is not the developer's, so a `make run` worker
never picks up tasks a `make test` run left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# Prints the broker options, then publishes one message to a queue nobody consumes and prints where it went.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from portal.celery import app
options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
with app.connection_for_write() as connection:
    app.send_task("airspace.probe", queue="broker-separation-probe", connection=connection)
print(json.dumps({"url": settings.CELERY_BROKER_URL, "options": options}))
"""


def probe(settings_module: str) -> dict:
    """The embedded-broker settings of a fresh process on `settings_module` (no REDIS_URL/DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def probe_messages(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.broker-separation-probe.msg"))


def test_test_settings_publish_into_their_own_broker_folder():
    dev, test = probe("portal.settings.dev"), probe("portal.settings.test")
    assert dev["url"] == test["url"] == "filesystem://"
    dev_folders = {Path(v) for k, v in dev["options"].items() if k.endswith("folder") or "folder_" in k}
    test_folders = {Path(v) for k, v in test["options"].items() if k.endswith("folder") or "folder_" in k}
    assert len(test_folders) == 3 and not dev_folders & test_folders
    test_dir = Path(test["options"]["data_folder_out"])
    dev_dir = Path(dev["options"]["data_folder_out"])
    assert test_dir.name == "test-broker" and dev_dir.name == "broker"
    # Each process's message sits in its own folder only; the dev one is removed again at once.
    try:
        assert len(probe_messages(test_dir)) >= 1 and len(probe_messages(dev_dir)) >= 1
        assert all(test_dir in p.parents for p in probe_messages(test_dir))
    finally:
        for message in probe_messages(dev_dir) + probe_messages(test_dir):
            message.unlink(missing_ok=True)


def test_a_message_published_under_test_settings_never_reaches_the_dev_folder():
    test = probe("portal.settings.test")
    dev_dir = Path(test["options"]["data_folder_out"]).parent / "broker"
    try:
        assert probe_messages(dev_dir) == []
    finally:
        for message in probe_messages(Path(test["options"]["data_folder_out"])):
            message.unlink(missing_ok=True)
