"""Finding 9 (#17), the smaller items: MRN format on every path, no PHI in access logs, pixel and upload
rate limits, a private schema in production, an idle session timeout, private media modes, and gunicorn
published on loopback only.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import runpy
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from diagnosis.models import Image, Patient
from tests.conftest import ROOT
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


# --- MRN format: one pattern, every entry point ------------------------------------------------------


@pytest.mark.parametrize("mrn", ["X\r\n--zz", "<script>", "-lead", "a/b", "x" * 65])
def test_the_patient_api_refuses_a_malformed_mrn(alice: Any, mrn: str) -> None:
    response = token_client(alice).post("/api/v1/patients/", {"mrn": mrn, "name": "Ada"})
    assert response.status_code == 400 and "mrn" in response.json()["error"]["fields"]
    assert not Patient.objects.exists()


def test_one_mrn_pattern_serves_the_model_the_form_and_the_api() -> None:
    from diagnosis.api.serializers import PatientInputSerializer, StudyUploadSerializer
    from diagnosis.forms import StudyUploadForm
    from diagnosis.models import MRN_PATTERN

    fields = [
        StudyUploadForm.base_fields["patient_mrn"],
        StudyUploadSerializer().fields["patient_mrn"],
        PatientInputSerializer().fields["mrn"],
        Patient._meta.get_field("mrn"),
    ]
    patterns = {v.regex.pattern for field in fields for v in field.validators if hasattr(v, "regex")}
    assert patterns == {MRN_PATTERN}


# --- access log ---------------------------------------------------------------------------------------


def test_the_access_log_format_carries_no_query_string_or_referrer() -> None:
    from gunicorn.glogging import Logger

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v1/patients/?mrn=MRN-SECRET-1&q=Jane+Doe",
        "PATH_INFO": "/api/v1/patients/",
        "QUERY_STRING": "mrn=MRN-SECRET-1&q=Jane+Doe",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": "https://airspace.example/studies/?patient_mrn=MRN-SECRET-2",
        "HTTP_USER_AGENT": "curl/8",
    }
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = Logger.atoms(Logger.__new__(Logger), response, request, environ, dt.timedelta(milliseconds=12))
    line = config["access_log_format"] % atoms
    assert "GET /api/v1/patients/" in line and " 200 " in line
    assert "MRN-SECRET" not in line and "Jane" not in line
    # The image loads it: gunicorn reads ./gunicorn.conf.py from its working directory (/app).
    assert "COPY manage.py gunicorn.conf.py ./" in (ROOT / "Dockerfile").read_text()
    for text in ((ROOT / "Dockerfile").read_text(), (ROOT / "docker-compose.yml").read_text()):
        assert "access-logformat" not in text and "--config" not in text


# --- pixel count and upload rate ---------------------------------------------------------------------


def _blank_png(width: int, height: int) -> bytes:
    """A valid grayscale PNG of zeros, built row by row (never a whole bitmap in memory)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_a_small_png_declaring_60_megapixels_is_refused_before_decoding(alice: Any, monkeypatch: Any) -> None:
    from PIL import ImageFile

    data = _blank_png(10_000, 6_000)
    assert len(data) < 200_000  # the pen test's file: ~60 MP in under 200 KB

    def no_decode(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    image = SimpleUploadedFile("bomb.png", data, content_type="image/png")
    response = token_client(alice).post("/api/v1/studies/", {"image": image, "patient_mrn": "MRN-1"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_many_pixels"
    assert not Image.objects.exists()


@pytest.fixture
def upload_rate(settings: Any) -> None:
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "upload": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def _upload(client: Any, data: bytes, mrn: str) -> int:
    image = SimpleUploadedFile("x.jpg", data, content_type="image/jpeg")
    return client.post("/api/v1/studies/", {"image": image, "patient_mrn": mrn}).status_code


def test_uploads_are_rate_limited_per_user(
    alice: Any, bob: Any, xray_bytes: bytes, upload_rate: None
) -> None:
    client = token_client(alice)
    assert [_upload(client, xray_bytes, f"MRN-{i}") for i in range(3)] == [201, 201, 429]
    assert _upload(token_client(bob), xray_bytes, "MRN-B") == 201  # per user, not global
    page = Client()
    page.force_login(alice)
    image = SimpleUploadedFile("x.jpg", xray_bytes, content_type="image/jpeg")
    form = page.post("/studies/new/", {"image": image, "patient_mrn": "MRN-P", "priority": "routine"})
    assert form.status_code == 429 and b"Too many uploads" in form.content


# --- production schema --------------------------------------------------------------------------------


def test_the_schema_and_swagger_ui_need_a_login_in_production() -> None:
    from tests.security.test_prod_settings import SECRETS

    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='airspace.hospital.example')\n"
        "print(*(c.get(p, secure=True).status_code for p in ('/api/v1/schema/', '/api/v1/docs/')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")} | SECRETS
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings.prod"
    env["DATABASE_URL"] = "sqlite:////tmp/airspace-prod-schema-check.sqlite3"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["401", "401"]


# --- sessions -----------------------------------------------------------------------------------------


def _session_expiry(client: Client) -> dt.timedelta:
    from django.contrib.sessions.models import Session

    row = Session.objects.get(session_key=client.session.session_key)
    return row.expire_date - timezone.now()


def test_sessions_end_after_30_idle_minutes_and_slide_while_used(alice: Any, settings: Any) -> None:
    from django.contrib.sessions.models import Session

    assert settings.AIRSPACE_SESSION_IDLE_MINUTES == 30
    client = Client()
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert dt.timedelta(minutes=29) < _session_expiry(client) <= dt.timedelta(minutes=30)
    # Used again after a while: the idle window starts over.
    key = client.session.session_key
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + dt.timedelta(minutes=20))
    session = client.session
    session["airspace_seen"] = (timezone.now() - dt.timedelta(minutes=10)).timestamp()
    session.save()
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + dt.timedelta(minutes=20))
    assert client.get("/studies/").status_code == 200
    assert _session_expiry(client) > dt.timedelta(minutes=29)
    # Past the absolute maximum (8 hours) even a busy session ends.
    session = client.session
    session["airspace_started"] = (timezone.now() - dt.timedelta(hours=9)).timestamp()
    session.save()
    assert client.get("/studies/").status_code == 302
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    key = client.session.session_key
    # Idle past the window: signed out.
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get("/studies/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- media modes --------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_media_files_and_folders_are_not_world_readable(alice: Any, xray_bytes: bytes, settings: Any) -> None:
    assert _upload(token_client(alice), xray_bytes, "MRN-M") == 201
    stored = Path(settings.MEDIA_ROOT) / Image.objects.get().file.name
    heatmap = Path(default_storage.path(default_storage.save("heatmaps/h.png", ContentFile(b"png"))))
    for path in (stored, heatmap):
        assert _mode(path) & 0o007 == 0 and _mode(path) & 0o600 == 0o600, oct(_mode(path))
        folder = path.parent
        while folder != Path(settings.MEDIA_ROOT).parent:
            assert _mode(folder) & 0o007 == 0, (folder, oct(_mode(folder)))
            folder = folder.parent


# --- compose ------------------------------------------------------------------------------------------


def test_compose_publishes_every_port_on_loopback_only() -> None:
    """By default (no .env): the DICOM receiver's address is a setting, whose default is loopback too."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    published = {
        name: [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(port)) for port in service.get("ports", [])]
        for name, service in compose["services"].items()
    }
    assert published["web"], "the web service must publish gunicorn for the reverse proxy"
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), (name, port)


def test_changing_the_new_access_settings_is_audited(settings: Any) -> None:
    from audit.services.settings_audit import settings_audit

    settings_audit()
    settings.AIRSPACE_TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.AIRSPACE_TOKEN_TTL_HOURS = 24
    event = settings_audit()
    assert event is not None
    assert event.after["changed"] == {
        "AIRSPACE_TOKEN_TTL_HOURS": 24,
        "AIRSPACE_TRUSTED_PROXIES": ["10.0.0.0/8"],
    }
