"""/api/v1/ routes: every app's API endpoints, the schema and the docs."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularSwaggerSplitView

from audit.api.events import AuditListView
from diagnosis.api.media import StudyHeatmapView, StudyImageItemView, StudyImageView
from diagnosis.api.patients import PatientDetailView, PatientListCreateView
from diagnosis.api.studies import (
    StudyCancelView,
    StudyDetailView,
    StudyListCreateView,
    StudyRerunView,
)
from modelops.api.history import ModelHistoryView
from modelops.api.model_info import ModelInfoView
from modelops.api.monitoring import MonitoringView
from modelops.api.shadow import ShadowView
from portal.api.schema import BrowsableSchemaView
from portal.api.token import LogoutView, TokenView
from reading.api.claims import StudyClaimView, StudyReleaseView
from reading.api.reports import StudyReportPdfView, StudyReportView
from reading.api.reviews import StudyReviewView
from reading.api.worklist import WorklistSummaryView, WorklistView

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("auth/logout/", LogoutView.as_view(), name="api-logout"),
    path("patients/", PatientListCreateView.as_view(), name="api-patients"),
    path("patients/<uuid:pk>/", PatientDetailView.as_view(), name="api-patient"),
    path("studies/", StudyListCreateView.as_view(), name="api-studies"),
    path("studies/<uuid:pk>/", StudyDetailView.as_view(), name="api-study"),
    path("studies/<uuid:pk>/cancel/", StudyCancelView.as_view(), name="api-study-cancel"),
    path("studies/<uuid:pk>/rerun/", StudyRerunView.as_view(), name="api-study-rerun"),
    path("studies/<uuid:pk>/claim/", StudyClaimView.as_view(), name="api-study-claim"),
    path("studies/<uuid:pk>/release/", StudyReleaseView.as_view(), name="api-study-release"),
    path("studies/<uuid:pk>/review/", StudyReviewView.as_view(), name="api-study-review"),
    path("studies/<uuid:pk>/report/", StudyReportView.as_view(), name="api-study-report"),
    path(
        "studies/<uuid:pk>/report/<int:version>/pdf/",
        StudyReportPdfView.as_view(),
        name="api-study-report-pdf",
    ),
    path("studies/<uuid:pk>/image/", StudyImageView.as_view(), name="api-study-image"),
    path("studies/<uuid:pk>/heatmap/", StudyHeatmapView.as_view(), name="api-study-heatmap"),
    path(
        "studies/<uuid:pk>/images/<uuid:image_id>/", StudyImageItemView.as_view(), name="api-study-image-item"
    ),
    path("worklist/", WorklistView.as_view(), name="api-worklist"),
    path("worklist/summary/", WorklistSummaryView.as_view(), name="api-worklist-summary"),
    path("audit/", AuditListView.as_view(), name="api-audit"),
    path("monitoring/", MonitoringView.as_view(), name="api-monitoring"),
    path("model/", ModelInfoView.as_view(), name="api-model"),
    path("model/shadow/", ShadowView.as_view(), name="api-model-shadow"),
    path("model/history/", ModelHistoryView.as_view(), name="api-model-history"),
    path("schema/", BrowsableSchemaView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
]
