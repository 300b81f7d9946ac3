"""The study's pixels for the viewer: the preview, the full-resolution values and the heatmap (audited, never
cached)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from audit.services.events import ctx
from diagnosis import selectors
from diagnosis.services.media import PixelsPart, media_response, pixels_response
from portal.roles import ANY_ROLE, role_required


@role_required(*ANY_ROLE)
def study_image(request: HttpRequest, pk: Any, image_id: Any = None) -> HttpResponseBase:
    """The X-ray (the analysed view, or view `image_id`) rendered for the viewer (audited, never cached)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return media_response(
        user=request.user, study=study, kind="display", image_id=image_id, context=ctx(request)
    )


@role_required(*ANY_ROLE)
def study_heatmap(request: HttpRequest, pk: Any) -> HttpResponseBase:
    """The heatmap overlay (audited, never cached)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return media_response(user=request.user, study=study, kind="heatmap", context=ctx(request))


PART_FIELDS = ("x", "y", "w", "h")
MAX_STEP = 64


def _pixels_part(params: Any) -> PixelsPart | None:
    """`?step=` alone (an overview of the whole film) or with `x y w h` (a region), as whole numbers."""
    given = [name for name in ("step", *PART_FIELDS) if name in params]
    if not given:
        return None
    raw = {name: params.get(name, "") for name in given}
    if any(not (v.isascii() and v.isdigit()) or len(v) > 6 for v in raw.values()):
        raise ValueError("step, x, y, w and h must be whole numbers.")
    numbers = {name: int(v) for name, v in raw.items()}
    step = numbers.get("step", 1)
    if not 1 <= step <= MAX_STEP:
        raise ValueError(f"step must be between 1 and {MAX_STEP}.")
    if not any(name in numbers for name in PART_FIELDS):
        return PixelsPart(box=None, step=step)
    if not all(name in numbers for name in PART_FIELDS):
        raise ValueError("A region needs all of x, y, w and h.")
    return PixelsPart(box=tuple(numbers[n] for n in PART_FIELDS), step=step)  # type: ignore[arg-type]


@role_required(*ANY_ROLE)
def study_pixels(request: HttpRequest, pk: Any, image_id: Any = None) -> HttpResponse:
    """Pixel values for the diagnostic viewer's window/level (audited, never cached): the whole film at full
    resolution, or (`?step=`, `x y w h`) an overview or a region of a very large one."""
    study = selectors.study_get(user=request.user, study_id=pk)
    try:
        part = _pixels_part(request.GET)
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    return pixels_response(user=request.user, study=study, image_id=image_id, part=part, context=ctx(request))
