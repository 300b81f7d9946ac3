"""Readiness of the parts a study needs: database, broker, model bundle."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection

from mlcore import BundleError
from mlcore.bundle import load_bundle, resolve_bundle_dir
from modelops.selectors import served_bundle_dir


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return f"database unreachable: {exc.__class__.__name__}"
    return None


def _check_broker() -> str | None:
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return f"broker unreachable: {exc.__class__.__name__}"
    return None


@lru_cache(maxsize=4)
def _verified(bundle: str, files_state: tuple[tuple[str, int, int], ...]) -> str:
    """Hash the weights and serving artifacts once per version of the folder, not on every probe."""
    return load_bundle(bundle).version


def _files_state(bundle: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime) of every file in the bundle: any change invalidates the cached verdict."""
    if not bundle.is_dir():
        return ()
    return tuple(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in bundle.iterdir()))


def _check_model() -> tuple[str | None, str | None]:
    try:
        try:
            bundle = served_bundle_dir()
        except DatabaseError:  # the database check reports it; the deployed bundle can still be checked
            bundle = resolve_bundle_dir(settings.AIRSPACE_MODEL_BUNDLE)
        return None, _verified(str(bundle), _files_state(bundle))
    except BundleError as exc:
        return f"model bundle unusable: {exc}", None


def health_report() -> dict[str, Any]:
    """Each part's status; `ok` only when all are usable."""
    model_error, version = _check_model()
    checks = {"database": _check_database(), "broker": _check_broker(), "model": model_error}
    return {
        "ok": not any(checks.values()),
        "checks": {name: ("ok" if error is None else error) for name, error in checks.items()},
        "model_version": version,
    }
