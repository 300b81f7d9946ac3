"""Which model bundle the portal serves: the one answer the worker, health, the model page, the model-info
API and monitoring all ask for (the promoted bundle when a ServedBundle row is active, else
AIRSPACE_MODEL_BUNDLE when set, else the bundle models/CURRENT names)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from mlcore.bundle import Bundle, load_bundle, resolve_bundle_dir
from mlcore.config import MODELS_DIR
from modelops.models import OperatingProfile, ServedBundle
from portal.errors import DomainError
from portal.query_params import date_param


def models_dir() -> Path:
    """The folder whose bundle sub-folders can be run in shadow and promoted (AIRSPACE_MODELS_DIR)."""
    return Path(settings.AIRSPACE_MODELS_DIR or MODELS_DIR)


_SERVED_SQL = f"SELECT bundle FROM {ServedBundle._meta.db_table} WHERE active LIMIT 1"  # noqa: S608 (no input)


def served_bundle_dir() -> Path:
    """The served bundle's folder: the promoted one (one query on a partial unique index), else the
    deployment default ($AIRSPACE_MODEL_BUNDLE, else models/CURRENT)."""
    # Plain SQL: the worker asks before every study, and the ORM's query building cost 0.4 CPU-ms of the
    # 0.5 (bench/served_bundle_lookup.py).
    with connection.cursor() as cursor:
        cursor.execute(_SERVED_SQL)
        promoted = cursor.fetchone()
    return models_dir() / promoted[0] if promoted else resolve_bundle_dir(settings.AIRSPACE_MODEL_BUNDLE)


def active_bundle(*, verify: bool = False) -> Bundle:
    """The bundle this portal serves, parsed; BundleError saying why when there is none or it is broken.

    `verify` also checks the weights and every serving artifact against their recorded sha256 (no
    TensorFlow): the worker does this before it starts, pages only need the parsed metadata.
    """
    return load_bundle(served_bundle_dir(), serving=verify, verify=verify)


MODEL_VERSION = re.compile(r"[A-Za-z0-9._+\-]{1,64}")


def monitoring_filters(params: Mapping[str, Any]) -> dict[str, Any]:
    """model_version, date_from and date_to from the query string; a bad value is a 400 naming it."""
    date_from, date_to = date_param(params, "date_from"), date_param(params, "date_to")
    if date_from and date_to and date_from > date_to:
        raise DomainError(
            "date_from must not be after date_to.",
            code="invalid_filter",
            fields={"date_from": ["must not be after date_to"]},
        )
    version = str(params.get("model_version", "")).strip()
    if version and not MODEL_VERSION.fullmatch(version):
        raise DomainError(
            "model_version is at most 64 letters, digits or . _ - +",
            code="invalid_filter",
            fields={"model_version": ["at most 64 letters, digits or . _ - +"]},
        )
    return {"model_version": version or None, "date_from": date_from, "date_to": date_to}


def profile_list(*, model_version: str) -> QuerySet[OperatingProfile]:
    """A model version's operating profiles, newest first (admin pages; the caller checks the role)."""
    return OperatingProfile.objects.filter(model_version=model_version).select_related("created_by")


def profile_get(*, profile_id: int) -> OperatingProfile:
    """One profile, or Http404."""
    return get_object_or_404(OperatingProfile.objects.select_related("created_by"), pk=profile_id)
