"""Serving private media: only through views that check access, audit, and forbid caching."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Image, Prediction, Study

_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "DICOM": "application/dicom"}


def _private[R: HttpResponseBase](response: R) -> R:
    """No cache may keep it, no browser may sniff or run it."""
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def image_download(image: Image, *, filename: str) -> FileResponse:
    """The stored original as an attachment, with its content type and the private-media headers."""
    response = FileResponse(
        image.file.open("rb"),
        content_type=_CONTENT_TYPES.get(image.format, "application/octet-stream"),
        as_attachment=True,
        filename=filename,
    )
    return _private(response)


def _display_png(data: bytes) -> bytes:
    """Render any accepted upload (DICOM and 16-bit PNG included) as a PNG a browser can show."""
    from mlcore.decoding import decode_image

    return decode_image(data).display_png()


def media_response(
    *,
    user: Any,
    study: Study,
    kind: str,
    context: AuditContext = SYSTEM,
    prediction_id: str | None = None,
    image_id: Any = None,
) -> HttpResponseBase:
    """Stream a study's image ("image" as stored, "display" as PNG; `image_id` one of its views, else the
    analysed one) or heatmap, after auditing the access."""
    if kind == "heatmap":
        predictions = study.predictions.exclude(heatmap="")
        prediction: Prediction | None = (
            predictions.filter(id=prediction_id).first()
            if prediction_id
            else predictions.order_by("-created_at").first()
        )
        if prediction is None:
            raise Http404("No heatmap for this study.")
        audit_record(
            actor=user,
            action="heatmap.download",
            object_type="prediction",
            object_id=prediction.id,
            context=context,
        )
        return _private(FileResponse(prediction.heatmap.open("rb"), content_type="image/png"))
    image = displayed_image(study, image_id)
    audit_record(
        actor=user,
        action=f"image.{'view' if kind == 'display' else 'download'}",
        object_type="image",
        object_id=image.id,
        after={"study": str(study.id)},
        context=context,
    )
    if kind == "display":
        from mlcore.errors import InvalidImage

        with image.file.open("rb") as handle:
            data = handle.read()
        try:
            png = _display_png(data)
        except (
            InvalidImage
        ) as exc:  # stored by a path that checks less (a received DICOM): a reason, not a 500
            return HttpResponse(str(exc), status=422, content_type="text/plain; charset=utf-8")
        return _private(FileResponse(io.BytesIO(png), content_type="image/png"))
    return image_download(image, filename=f"study-{study.id}{image.file.name[-4:]}")


def displayed_image(study: Study, image_id: Any = None) -> Image:
    """The study's image `image_id` (404 if not one of its own), else the one the current prediction was made
    on (its heatmap overlays it), else the first uploaded."""
    if image_id is not None:
        view = study.images.filter(id=image_id).first()
        if view is None:
            raise Http404("No such image on this study.")
        return view
    latest = study.predictions.select_related("image").order_by("-created_at").first()
    image = latest.image if latest else study.images.order_by("created_at").first()
    if image is None:
        raise Http404("No image for this study.")
    return image


@dataclass(frozen=True)
class PixelsPart:
    """Part of a very large film: a region (x, y, width, height; None: all of it), every `step`-th pixel."""

    box: tuple[int, int, int, int] | None
    step: int


def pixels_response(
    *,
    user: Any,
    study: Study,
    image_id: Any = None,
    part: PixelsPart | None = None,
    context: AuditContext = SYSTEM,
) -> HttpResponse:
    """The displayed image's values for the viewer (mlcore.viewer_pixels wire format): all of them, or `part`;
    audited as an image view, never cached. A file (or region) the viewer cannot use answers 422 or 400."""
    from mlcore.errors import InvalidImage
    from mlcore.viewer_pixels import decode_viewer_pixels

    image = displayed_image(study, image_id)
    with image.file.open("rb") as handle:
        data = handle.read()
    try:
        pixels = decode_viewer_pixels(data)
    except InvalidImage as exc:
        return HttpResponse(str(exc), status=422, content_type="text/plain; charset=utf-8")
    after: dict[str, Any] = {"study": str(study.id), "resolution": "full"}
    if part is not None:
        try:
            pixels = pixels.part(box=part.box, step=part.step)
        except InvalidImage as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
        after.update(resolution="part", box=list(part.box) if part.box else None, step=part.step)
    body = pixels.encode()
    audit_record(
        actor=user,
        action="image.view",
        object_type="image",
        object_id=image.id,
        after=after,
        context=context,
    )
    return _private(HttpResponse(body, content_type="application/vnd.airspace.pixels+zlib"))


def study_image_open(*, user: Any, study: Study, image_id: Any, context: AuditContext = SYSTEM) -> Image:
    """One image of a study the caller can already see (else 404), its download audited."""
    image = study.images.filter(id=image_id).first()
    if image is None:
        raise Http404("No such image on this study.")
    audit_record(
        actor=user,
        action="image.download",
        object_type="image",
        object_id=image.id,
        after={"study": str(study.id)},
        context=context,
    )
    return image
