"""Django-level error views: JSON error bodies under /api/, the usual pages everywhere else.

DRF's exception handler covers errors raised inside API views; these cover what happens before a view
runs (an unknown /api/ path, an oversized request body) and unhandled crashes, so no HTML page leaks.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from portal.api.errors import error_body


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Any = None) -> HttpResponse:
    """400 for a malformed request; 413 when its form fields exceed DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
        message = "The request's form fields are larger or more numerous than the server accepts."
        return JsonResponse(error_body("request_too_large", message), status=413)
    return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)


def permission_denied(request: HttpRequest, exception: Any = None) -> HttpResponse:
    """403 raised outside an API view (e.g. a CSRF failure)."""
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)
    return defaults.permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    """404 for a path no route matches."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: a crash is logged by Django; the client sees no trace."""
    if _is_api(request):
        message = "Internal error; it has been logged."
        return JsonResponse(error_body("server_error", message), status=500)
    return defaults.server_error(request)
