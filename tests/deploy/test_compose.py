"""The compose deployment, checked without a Docker engine: parse it and hold it against what settings need."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")
# What portal.settings.prod refuses to start without, plus what the services need to find each other.
REQUIRED_ENV = (
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "AIRSPACE_AUDIT_HMAC_KEY",
    "AIRSPACE_MEDIA_ROOT",
    "AIRSPACE_AUDIT_ANCHOR_FILE",
)
_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


def env_example() -> dict[str, str]:
    """The KEY=value pairs of .env.example."""
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose-style ${VAR}, ${VAR:-default} and ${VAR:?error} substitution ($$ is a literal $)."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if env.get(name):
            return env[name]
        if op == "?":
            raise KeyError(f"{name} is required: {arg}")
        return arg if op == "-" else ""

    return _VARIABLE.sub(replace, value.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def service_env(compose: dict[str, Any], name: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment with .env.example (plus overrides) interpolated, as the container sees it."""
    source = {**env_example(), **(env or {})}
    declared = compose["services"][name].get("environment", {})
    return {**source, **{k: interpolate(str(v), source) for k, v in declared.items()}}


def command_words(compose: dict[str, Any], name: str) -> list[str]:
    command = compose["services"][name]["command"]
    return command if isinstance(command, list) else shlex.split(command)


def test_workers_are_one_pool_process_per_container_and_two_containers(compose: dict[str, Any]) -> None:
    """What bench/load.py measured faster on 2 cores: 2 workers x 1 process, not 1 worker x 2 (#17)."""
    worker = command_words(compose, "worker")
    assert worker[worker.index("--concurrency") + 1] == "${AIRSPACE_WORKER_CONCURRENCY:-1}"
    assert compose["services"]["worker"]["deploy"]["replicas"] == "${AIRSPACE_WORKERS:-2}"
    assert (env_example()["AIRSPACE_WORKERS"], env_example()["AIRSPACE_WORKER_CONCURRENCY"]) == ("2", "1")
    # One LiteRT thread per process (bench/_stack.py runs the workers so), the rest of the environment shared.
    environment = compose["services"]["worker"]["environment"]
    assert environment["AIRSPACE_THREADS"] == "${AIRSPACE_THREADS:-1}"
    assert environment["DATABASE_URL"] == compose["services"]["web"]["environment"]["DATABASE_URL"]


def test_admission_control_not_cpu_weights_keeps_a_long_burst_from_outrunning_the_workers(
    compose: dict[str, Any],
) -> None:
    """#17, session 11: every container keeps the default CPU weight (a web weighted at 820 cost uploads/s on a
    slower machine); the web's admission control (AIRSPACE_UPLOAD_QUEUE_SECONDS, on by default) holds the
    backlog."""
    for name, service in compose["services"].items():
        assert "cpu_shares" not in service, f"{name} must keep the default weight, 1024"
    assert (
        compose["services"]["web"]["env_file"] == ".env"
    )  # .env.example's AIRSPACE_UPLOAD_QUEUE_SECONDS reaches it
    assert service_env(compose, "web")["AIRSPACE_UPLOAD_QUEUE_SECONDS"] == "0.8"


def test_compose_has_the_five_services_and_an_opt_in_minio(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"web", "worker", "beat", "redis", "postgres"} <= set(services)
    for name in ("web", "worker", "beat", "redis", "postgres"):
        assert "profiles" not in services[name], f"{name} must start by default"
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert services["minio"]["profiles"] == ["minio"]
    assert services["minio-init"]["profiles"] == ["minio"]


def test_web_worker_and_beat_share_one_image_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    images = {compose["services"][name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    assert all(compose["services"][name]["build"] == "." for name in APP_SERVICES)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_set_every_variable_production_settings_need(compose: dict[str, Any], name: str) -> None:
    env = service_env(compose, name)
    missing = [key for key in REQUIRED_ENV if not env.get(key)]
    assert not missing, f"{name} lacks {missing}"
    assert env["DJANGO_SETTINGS_MODULE"] == "portal.settings.prod"
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    depends = compose["services"][name]["depends_on"]
    assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_as_the_app_role_after_migrations_ran_as_the_owner(
    compose: dict[str, Any], name: str
) -> None:
    """Finding 6 (#17): the portal's database user must not own the (audit) tables."""
    app_url, owner_url = (
        service_env(compose, name)["DATABASE_URL"],
        service_env(compose, "migrate")["DATABASE_URL"],
    )
    app_user, owner_user = app_url.split("//")[1].split(":")[0], owner_url.split("//")[1].split(":")[0]
    assert owner_user == env_example()["POSTGRES_USER"] and app_user == env_example()["AIRSPACE_DB_APP_USER"]
    assert app_user != owner_user and app_url.split("@")[1] == owner_url.split("@")[1]
    depends = compose["services"][name]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert compose["services"]["migrate"]["restart"] == "no"
    with pytest.raises(KeyError):  # no default password for the app role
        interpolate(compose["services"][name]["environment"]["DATABASE_URL"], {})


def test_web_health_check_passes_the_host_and_https_checks_of_production_settings(
    compose: dict[str, Any],
) -> None:
    probe = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert "/healthz" in probe and "'X-Forwarded-Proto': 'https'" in probe and "'Host': 'localhost'" in probe
    assert "localhost" in service_env(compose, "web")["DJANGO_ALLOWED_HOSTS"].split(",")


def test_required_secrets_fail_loudly_when_missing(compose: dict[str, Any]) -> None:
    raw = compose["services"]["web"]["environment"]
    for key in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "AIRSPACE_AUDIT_HMAC_KEY"):
        assert ":?" in raw[key], f"{key} must use ${{{key}:?...}} so compose refuses to start without it"
        with pytest.raises(KeyError):
            interpolate(raw[key], {})


def test_every_compose_variable_is_documented_in_env_example(compose: dict[str, Any]) -> None:
    used = set(_VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    names = {name for name, _op, _arg in used}
    assert names - set(env_example()) == set()


def _mounts(compose: dict[str, Any], name: str) -> dict[str, str]:
    """Container path -> named volume for one service."""
    return {v.split(":")[1]: v.split(":")[0] for v in compose["services"][name].get("volumes", [])}


def test_media_and_anchor_volumes_are_named_and_shared(compose: dict[str, Any]) -> None:
    named = set(compose["volumes"])
    web, worker = _mounts(compose, "web"), _mounts(compose, "worker")
    media_root = service_env(compose, "web")["AIRSPACE_MEDIA_ROOT"]
    assert web[media_root] == worker[media_root] == "media" and "media" in named
    anchor_dir = str(Path(service_env(compose, "worker")["AIRSPACE_AUDIT_ANCHOR_FILE"]).parent)
    assert worker[anchor_dir] == "anchors" and "anchors" in named
    assert _mounts(compose, "postgres")["/var/lib/postgresql/data"] in named


def test_commands_name_the_real_entry_points(compose: dict[str, Any]) -> None:
    web = " ".join(command_words(compose, "web"))
    assert "gunicorn portal.wsgi:application" in web
    migrate = " ".join(command_words(compose, "migrate"))
    assert "manage.py migrate" in migrate and "manage.py db_roles --app-role" in migrate
    worker, beat = command_words(compose, "worker"), command_words(compose, "beat")
    assert worker[:4] == ["celery", "-A", "portal", "worker"]
    assert worker[worker.index("-Q") + 1] == "inference"
    assert beat[:4] == ["celery", "-A", "portal", "beat"]
    # The queue the worker consumes is the one tasks are sent to.
    from django.conf import settings

    assert settings.CELERY_TASK_DEFAULT_QUEUE == "inference"
    assert (ROOT / "portal" / "wsgi.py").is_file() and (ROOT / "portal" / "celery.py").is_file()


def load_settings(env: dict[str, str]) -> dict[str, Any]:
    """Import the settings in a fresh interpreter with exactly this environment; return what matters."""
    probe = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        "from django.core.files.storage import storages; d = storages['default'];"
        "print(json.dumps({'debug': s.DEBUG, 'engine': s.DATABASES['default']['ENGINE'],"
        "'db_host': s.DATABASES['default']['HOST'], 'broker': s.CELERY_BROKER_URL,"
        "'media_root': str(s.MEDIA_ROOT), 'anchor': str(s.AIRSPACE_AUDIT_ANCHOR_FILE),"
        "'storage': s.STORAGES['default']['BACKEND'], 'storage_class': type(d).__module__ + '.' +"
        " type(d).__name__, 'bucket': getattr(d, 'bucket_name', None),"
        "'endpoint': getattr(d, 'endpoint_url', None), 'access_key': getattr(d, 'access_key', None)}))"
    )
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_load_with_the_compose_environment(compose: dict[str, Any]) -> None:
    loaded = load_settings(service_env(compose, "worker"))
    assert loaded["debug"] is False
    assert loaded["engine"] == "portal.postgresql" and loaded["db_host"] == "postgres"
    assert loaded["broker"].startswith("redis://redis:6379/")
    assert loaded["media_root"] == "/data/media"
    assert loaded["storage"] == "django.core.files.storage.FileSystemStorage"


def test_production_settings_refuse_to_start_without_secrets(compose: dict[str, Any]) -> None:
    env = service_env(compose, "web")
    env.pop("AIRSPACE_AUDIT_HMAC_KEY")
    probe = "import django; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "AIRSPACE_AUDIT_HMAC_KEY" in result.stderr


def test_bucket_setting_switches_media_to_s3_compatible_storage(compose: dict[str, Any]) -> None:
    overrides = {"AIRSPACE_S3_BUCKET": "airspace", "AIRSPACE_S3_ENDPOINT_URL": "http://minio:9000"}
    loaded = load_settings(service_env(compose, "worker", overrides))
    assert loaded["storage"] == loaded["storage_class"] == "storages.backends.s3.S3Storage"
    assert loaded["bucket"] == "airspace" and loaded["endpoint"] == "http://minio:9000"
    # django-storages takes the credentials from the AWS_* variables compose passes through.
    assert loaded["access_key"] == env_example()["AWS_ACCESS_KEY_ID"]
    minio = compose["services"]["minio"]["environment"]
    assert interpolate(minio["MINIO_ROOT_USER"], env_example()) == loaded["access_key"]


def dockerfile() -> list[str]:
    """Dockerfile instructions with continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_dockerfile_builds_one_non_root_image_with_static_files() -> None:
    lines = dockerfile()
    assert lines[0] == "FROM python:3.12-slim"
    for line in lines:
        if line.startswith("COPY "):
            source = line.split()[1]
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    assert any("collectstatic" in line for line in lines if line.startswith("RUN "))
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    cmd = json.loads(next(line for line in lines if line.startswith("CMD "))[4:])
    assert cmd[:2] == ["gunicorn", "portal.wsgi:application"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", ".env", ".git"} <= set(ignored)


def test_images_round_trip_through_an_s3_compatible_store(compose: dict[str, Any]) -> None:
    """A local S3 stand-in (moto's server mode) takes the place of MinIO: store, read back, sign, delete."""
    pytest.importorskip("moto", reason="moto[server] (dev dependency) provides the local S3 stand-in")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = service_env(
            compose, "worker", {"AIRSPACE_S3_BUCKET": "airspace", "AIRSPACE_S3_ENDPOINT_URL": endpoint}
        )
        probe = (
            "import django; django.setup(); import boto3;"
            "from django.core.files.base import ContentFile; from django.core.files.storage import storages;"
            "s = storages['default']; boto3.client('s3', endpoint_url=s.endpoint_url).create_bucket(Bucket='airspace');"
            "name = s.save('studies/x/image.png', ContentFile(b'\\x89PNG-bytes'));"
            "assert s.open(name).read() == b'\\x89PNG-bytes'; url = s.url(name);"
            "assert 'Signature' in url or 'X-Amz-Signature' in url, url; s.delete(name);"
            "assert not s.exists(name); print('round-trip ok', type(s).__name__)"
        )
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        result = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=ROOT,
            env={**base, **env, "NO_PROXY": "*", "no_proxy": "*"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "round-trip ok S3Storage" in result.stdout
    finally:
        server.stop()
