"""The notification list and marking notifications read."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.services.events import audit_read, ctx
from notifications.selectors import notification_get, notification_list, unread_count
from notifications.services.notifications import notification_mark_read, notifications_mark_all_read
from portal.roles import ANY_ROLE, role_required


@role_required(*ANY_ROLE)
@require_GET
def notifications_page(request: HttpRequest) -> HttpResponse:
    """The user's notifications, newest first, 50 a page."""
    page = Paginator(notification_list(user=request.user), 50).get_page(request.GET.get("page"))
    # Titles name the study (accession or MRN): a read that shows them is audited like a study list.
    ids = sorted({str(n.study_id) for n in page.object_list})
    audit_read(
        actor=request.user, action="notification.list", object_type="study", ids=ids, context=ctx(request)
    )
    return render(request, "notifications/list.html", {"page": page, "notifications": page.object_list})


@role_required(*ANY_ROLE)
@require_GET
def notifications_unread_count(request: HttpRequest) -> HttpResponse:
    """The bell's number, polled by every page while its tab is visible (app.js).

    Not audited: a count of one's own unread notifications names no study or patient (the page that
    draws the bell is not audited for it either), and a poll every 30 s per open tab would drown the log.
    """
    response = JsonResponse({"unread": unread_count(user=request.user)})
    response["Cache-Control"] = "no-store"
    return response


@role_required(*ANY_ROLE)
@require_POST
def notification_open(request: HttpRequest, pk: Any) -> HttpResponse:
    """Mark it read and open its study."""
    notification = notification_get(user=request.user, notification_id=pk)
    notification_mark_read(user=request.user, notification=notification)
    return redirect("study-detail", pk=notification.study_id)


@role_required(*ANY_ROLE)
@require_POST
def notification_read(request: HttpRequest, pk: Any) -> HttpResponse:
    """Mark one read and stay on the list."""
    notification = notification_get(user=request.user, notification_id=pk)
    notification_mark_read(user=request.user, notification=notification)
    return redirect("notifications")


@role_required(*ANY_ROLE)
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    """Mark every notification read."""
    notifications_mark_all_read(user=request.user)
    return redirect("notifications")
