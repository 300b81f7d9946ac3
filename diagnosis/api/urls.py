"""/api/v1/ routes."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularSwaggerSplitView

from diagnosis.api import views
from diagnosis.api.model_info import ModelInfoView
from diagnosis.api.monitoring import MonitoringView
from diagnosis.api.schema import BrowsableSchemaView
from diagnosis.api.study_images import StudyImageItemView

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("auth/logout/", views.LogoutView.as_view(), name="api-logout"),
    path("patients/", views.PatientListCreateView.as_view(), name="api-patients"),
    path("patients/<uuid:pk>/", views.PatientDetailView.as_view(), name="api-patient"),
    path("studies/", views.StudyListCreateView.as_view(), name="api-studies"),
    path("studies/<uuid:pk>/", views.StudyDetailView.as_view(), name="api-study"),
    path("studies/<uuid:pk>/cancel/", views.StudyCancelView.as_view(), name="api-study-cancel"),
    path("studies/<uuid:pk>/rerun/", views.StudyRerunView.as_view(), name="api-study-rerun"),
    path("studies/<uuid:pk>/claim/", views.StudyClaimView.as_view(), name="api-study-claim"),
    path("studies/<uuid:pk>/release/", views.StudyReleaseView.as_view(), name="api-study-release"),
    path("studies/<uuid:pk>/review/", views.StudyReviewView.as_view(), name="api-study-review"),
    path("studies/<uuid:pk>/image/", views.StudyImageView.as_view(), name="api-study-image"),
    path("studies/<uuid:pk>/heatmap/", views.StudyHeatmapView.as_view(), name="api-study-heatmap"),
    path(
        "studies/<uuid:pk>/images/<uuid:image_id>/", StudyImageItemView.as_view(), name="api-study-image-item"
    ),
    path("worklist/", views.WorklistView.as_view(), name="api-worklist"),
    path("worklist/summary/", views.WorklistSummaryView.as_view(), name="api-worklist-summary"),
    path("audit/", views.AuditListView.as_view(), name="api-audit"),
    path("monitoring/", MonitoringView.as_view(), name="api-monitoring"),
    path("model/", ModelInfoView.as_view(), name="api-model"),
    path("schema/", BrowsableSchemaView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
]
