"""The admin page of DICOM receiving: the registered nodes, and the received instances (what was analysed,
what a routing rule ignored, what failed)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.services.events import audit_page_read
from pacs.models import ReceivedInstance
from pacs.selectors import dicom_nodes, received_instances
from portal.roles import Role, role_required


@role_required(Role.ADMIN)
def received_list(request: HttpRequest) -> HttpResponse:
    """Received instances, newest first, ignored ones by default (?status=all|accepted|ignored|failed)."""
    raw = request.GET.get("status", "")
    # An unknown status shows the default list rather than an error page.
    status = (
        raw
        if raw in ReceivedInstance.Status.values
        else ("" if raw == "all" else ReceivedInstance.Status.IGNORED)
    )
    page = Paginator(received_instances(status=status), 50).get_page(request.GET.get("page"))
    audit_page_read(request=request, page=page, action="dicom.received_view", object_type="received_instance")
    context = {
        "nodes": dicom_nodes(),
        "page": page,
        "status": status or "all",
        "statuses": ["all", *ReceivedInstance.Status.values],
        "params": request.GET,
    }
    return render(request, "pacs/received.html", context)
