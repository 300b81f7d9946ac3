"""The audit page: the trail with filters, and its CSV export (itself audited)."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from audit import selectors
from audit.selectors import AUDIT_FIELDS, audit_filters
from audit.services.events import audit_page_read, audit_record, ctx
from portal.errors import DomainError
from portal.roles import Role, role_required
from portal.spreadsheets import SafeWriter


@role_required(Role.ADMIN)
def audit(request: HttpRequest) -> HttpResponse:
    """The audit trail with filters; ?format=csv exports (and the export is itself audited)."""
    try:
        filters = audit_filters(request.GET)
    except DomainError as exc:
        messages.error(request, exc.message)
        filters = audit_filters({})
    events = selectors.audit_list(filters=filters)
    if request.GET.get("format") == "csv":
        audit_record(
            actor=request.user,
            action="audit.export",
            object_type="audit",
            after={"filters": request.GET.dict()},
            context=ctx(request),
        )
        return _audit_csv(events)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    audit_page_read(request=request, page=page, action="audit.view", object_type="audit")
    context = {"page": page, "params": request.GET, **AUDIT_FILTER_CHOICES}
    return render(request, "audit/audit.html", context)


# Suggestions for the audit page's filters (any prefix may still be typed).
AUDIT_FILTER_CHOICES = {
    "known_actions": [
        *("auth.login", "auth.logout", "auth.login_failed", "auth.token", "patient.create"),
        *("study.upload", "study.view", "study.claim", "study.release", "study.rejected", "study.failed"),
        *("image.view", "image.download", "heatmap.download", "prediction.create"),
        *("review.sign", "review.amend", "audit.export", "audit.verify", "dataset.export"),
        *("user.create", "user.roles_changed", "role.create", "settings.changed"),
        *("study.poll", "study.list", "patient.list", "patient.view", "worklist.view", "audit.view"),
        *("auth.token_revoked", "auth.tokens_revoked"),
    ],
    "object_types": ["user", "group", "patient", "study", "image", "prediction", "audit"],
}


class _Echo:
    def write(self, value: str) -> str:
        return value


def _audit_csv(events: Any) -> StreamingHttpResponse:
    columns = list(AUDIT_FIELDS)
    writer = SafeWriter(_Echo())  # usernames, user agents and notes are attacker text (#17 finding 4)
    # The details are JSON text (#16), not Python dict reprs: parseable by any tool reading the CSV.
    fields = [{"before": "before_json", "after": "after_json"}.get(c, c) for c in columns]
    rows = (writer.writerow([getattr(e, f) for f in fields]) for e in events.iterator())
    response = StreamingHttpResponse(
        itertools.chain([writer.writerow(columns)], rows), content_type="text/csv"
    )
    response["Content-Disposition"] = 'attachment; filename="airspace-audit.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
