"""The study's pixels for the viewer: the preview, the full-resolution values and the heatmap (audited, never
cached)."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse

from audit.services.events import ctx
from diagnosis import selectors
from diagnosis.services.media import media_response, pixels_response
from portal.roles import ANY_ROLE, role_required


@role_required(*ANY_ROLE)
def study_image(request: HttpRequest, pk: Any, image_id: Any = None) -> FileResponse:
    """The X-ray (the analysed view, or view `image_id`) rendered for the viewer (audited, never cached)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return media_response(
        user=request.user, study=study, kind="display", image_id=image_id, context=ctx(request)
    )


@role_required(*ANY_ROLE)
def study_heatmap(request: HttpRequest, pk: Any) -> FileResponse:
    """The heatmap overlay (audited, never cached)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return media_response(user=request.user, study=study, kind="heatmap", context=ctx(request))


@role_required(*ANY_ROLE)
def study_pixels(request: HttpRequest, pk: Any, image_id: Any = None) -> HttpResponse:
    """Full-resolution pixel values for the diagnostic viewer's window/level (audited, never cached)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return pixels_response(user=request.user, study=study, image_id=image_id, context=ctx(request))
