"""The signed report on the API: its versions (JSON) and one version's PDF (scoped, audited, never cached)."""

from __future__ import annotations

import io
from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import ctx
from portal.api import permissions
from reading.models import Report
from reading.selectors import report_get, report_versions
from reading.services.reports import report_pdf_read


class ReportVersionSerializer(serializers.ModelSerializer):
    reader = serializers.CharField(source="review.reviewer.username", read_only=True)
    signed_at = serializers.DateTimeField(source="review.signed_at", read_only=True)
    final_label = serializers.CharField(source="review.final_label", read_only=True)
    amendment_reason = serializers.CharField(source="review.amendment_reason", read_only=True)
    pdf = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "version",
            "status",
            "final_label",
            "reader",
            "signed_at",
            "amendment_reason",
            "superseded_at",
            "sha256",
            "pdf",
        ]
        read_only_fields = fields

    def get_pdf(self, obj: Report) -> str:
        return reverse("api-study-report-pdf", kwargs={"pk": obj.study_id, "version": obj.version})


class StudyReportView(APIView):
    """The study's signed report versions, newest first (sha256 blank until the PDF is first drawn)."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(responses={200: ReportVersionSerializer(many=True)})
    def get(self, request: Request, pk: Any) -> Response:
        versions = report_versions(user=request.user, study_id=pk)
        return Response(ReportVersionSerializer(versions, many=True).data)


class StudyReportPdfView(APIView):
    """One version's PDF, checked against its sha256 (409 if the stored file differs); audited."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: Any, version: int) -> FileResponse:
        report = report_get(user=request.user, study_id=pk, version=version)
        pdf = report_pdf_read(user=request.user, report=report, context=ctx(request))
        suffix = "" if report.status == Report.Status.CURRENT else "-superseded"
        name = f"airspace-report-{report.study_id}-v{report.version}{suffix}.pdf"
        response = FileResponse(
            io.BytesIO(pdf), content_type="application/pdf", as_attachment=True, filename=name
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response
