"""Backups that restore: fill a database, back it up, restore into a fresh database and media folder, and
find everything back on a system that works (issue #17, reliability)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from tests.backups.restored_system import snapshot
from tests.conftest import ROOT, xray_paths
from tests.fixtures.dicoms import xray_dicom

pytestmark = pytest.mark.django_db(transaction=True)


def _fill(alice, carol) -> None:
    """Studies (JPEG and DICOM) uploaded through the service, predictions, reviews, audit events."""
    from audit.services.events import audit_anchor
    from diagnosis.services.studies import StudyUpload, study_create
    from reading.services.reviews import review_submit
    from tests.diagnosis.factories import PredictionFactory

    uploads = [
        ("a.jpg", xray_paths()[0].read_bytes()),
        ("b.jpg", xray_paths()[-1].read_bytes()),
        ("c.dcm", xray_dicom()),
    ]
    for number, (name, data) in enumerate(uploads):
        study = study_create(
            user=alice, upload=StudyUpload(image_name=name, image_data=data, patient_mrn=f"MRN-B{number}")
        ).study
        study.status = "completed"
        study.save(update_fields=["status"])
        PredictionFactory(study=study, image=study.images.get(), probability=0.2 + 0.3 * number)
        if number < 2:
            review_submit(user=carol, study=study, decision="agree")
    audit_anchor()


def _fresh_database() -> tuple[str, str]:
    """A new, empty PostgreSQL database next to the test database; returns (name, URL)."""
    db = connection.settings_dict
    name = f"{db['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    base = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, f"{base}/{name}"


def _drop_database(name: str) -> None:
    db = connection.settings_dict
    base = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _restored_env(url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "AIRSPACE_TEST_DB_NAME")}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": url,
        "AIRSPACE_VAR_DIR": str(var_dir),
    }


def _run(args: list[str], env: dict[str, str]) -> str:
    """Run a Python script of the project in the restored system's environment; return its stdout."""
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_backup_restores_into_a_fresh_database_and_media_folder(services, alice, carol, tmp_path, settings):
    settings.AIRSPACE_AUDIT_ANCHOR_FILE = tmp_path / "live-anchors.jsonl"
    _fill(alice, carol)
    call_command("backup", out=tmp_path / "backup")
    original = snapshot()  # after the backup: backup.create is in the chain the backup carries
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["database"]["engine"] == "postgresql" and manifest["media"]["mode"] == "files"
    assert set(manifest["media"]["files"]) == {image["name"] for image in original["images"].values()}
    assert manifest["bundles"]["served"] and manifest["anchors"]["file"] == "audit-anchors.jsonl"

    name, url = _fresh_database()
    try:
        env = _restored_env(url, tmp_path / "restored-var")
        restore = _run(["manage.py", "restore", "--from", str(tmp_path / "backup")], env)
        assert "audit_verify: OK" in restore
        check = _run(["tests/backups/restored_system.py", str(xray_paths()[1])], env)
        restored = json.loads(check.strip().splitlines()[-1])
    finally:
        _drop_database(name)
    got = restored["snapshot"]
    for key in ("studies", "images", "predictions", "reviews"):
        assert got[key] == original[key], key
    # Every audit event back with its hash, plus the restore's own event after them.
    assert got["audit"][: len(original["audit"])] == original["audit"]
    assert len(got["audit"]) == len(original["audit"]) + 1
    assert len(original["studies"]) == 3 and len(original["reviews"]) == 2
    # Image bytes equal, file by file, in the fresh media folder.
    for image in original["images"].values():
        restored_file = tmp_path / "restored-var" / "test-media" / image["name"]
        assert restored_file.read_bytes() == (Path(settings.MEDIA_ROOT) / image["name"]).read_bytes()
    assert restored["verify_ok"], restored["problems"]
    assert restored["new_upload"] == {"status": "queued", "stored_ok": True}
    assert restored["verify_after_upload_ok"]


def test_a_damaged_backup_is_refused_before_anything_changes(services, alice, carol, tmp_path, settings):
    from backups.services.backups import backup_check
    from backups.services.errors import BackupError

    settings.AIRSPACE_AUDIT_ANCHOR_FILE = tmp_path / "live-anchors.jsonl"
    _fill(alice, carol)
    call_command("backup", out=tmp_path / "backup")
    media = next((tmp_path / "backup" / "media").rglob("*.*"))
    media.write_bytes(media.read_bytes() + b"x")
    with pytest.raises(BackupError, match="damaged"):
        backup_check(tmp_path / "backup")
