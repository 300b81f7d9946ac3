"""GET /api/v1/model/: the active model bundle's version, metadata and validation metrics (no TensorFlow)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlcore import BundleError
from mlcore.bundle import read_metadata
from modelops.selectors import active_bundle, profile_list
from modelops.services.profiles import profile_snapshot
from portal.api import permissions
from portal.errors import DomainError

# Operating-point keys lifted to the top level; everything else stays under "metadata".
_OPERATING_POINT = ("threshold", "temperature", "indeterminate_band")


class ModelUnavailable(DomainError):
    """No usable model bundle is installed (a 503: the service, not the request, is at fault)."""

    status_code = 503


class ModelInfoSerializer(serializers.Serializer):
    version = serializers.CharField()
    bundle = serializers.CharField(help_text="Folder name of the bundle under models/.")
    sha256 = serializers.CharField(allow_null=True)
    input_size = serializers.JSONField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    temperature = serializers.FloatField(allow_null=True)
    indeterminate_band = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    metrics = serializers.DictField(
        help_text="Validation metrics (with confidence intervals where recorded)."
    )
    metadata = serializers.DictField(help_text="The bundle's metadata.json as written at training time.")
    operating_profile = serializers.DictField(
        allow_null=True,
        help_text="The site's active operating profile (calibration, threshold, band) new studies are labelled "
        "with; null until the first study records the bundle's own. threshold/temperature above are the bundle's.",
    )


def model_info() -> dict[str, Any]:
    """The active bundle's description, read from its metadata.json."""
    try:
        bundle = active_bundle()
        metadata = read_metadata(bundle.path)  # as written, unknown keys included
    except BundleError as exc:
        raise ModelUnavailable(str(exc), code="model_unavailable") from exc
    metrics = metadata.get("metrics") or metadata.get("validation_metrics") or {}
    info = {key: metadata.get(key) for key in _OPERATING_POINT}
    return {
        "version": bundle.version,
        "bundle": bundle.path.name,
        "sha256": metadata.get("sha256"),
        "input_size": metadata.get("input_size"),
        **info,
        "metrics": metrics if isinstance(metrics, dict) else {"value": metrics},
        "metadata": metadata,
    }


def _active_profile(version: str) -> dict[str, Any] | None:
    active = profile_list(model_version=version).filter(active=True).first()
    return profile_snapshot(active) if active else None


class ModelInfoView(APIView):
    """The model that analyses new studies: version, operating point and validation metrics."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(responses={200: ModelInfoSerializer})
    def get(self, request: Request) -> Response:
        info = model_info()  # reads files only; the profile comes from the database
        return Response(
            ModelInfoSerializer({**info, "operating_profile": _active_profile(info["version"])}).data
        )
