"""Page routes."""

from __future__ import annotations

from django.urls import path

from diagnosis import model_views, monitoring_views, study_pages, views

urlpatterns = [
    path("studies/", views.study_list, name="study-list"),
    path("studies/new/", views.study_upload, name="study-upload"),
    path("studies/<uuid:pk>/", views.study_detail, name="study-detail"),
    path("studies/<uuid:pk>/status/", views.study_status, name="study-status"),
    path("studies/<uuid:pk>/panels/", study_pages.study_panels, name="study-panels"),
    path("studies/<uuid:pk>/cancel/", study_pages.study_cancel, name="study-cancel"),
    path("studies/<uuid:pk>/rerun/", study_pages.study_rerun, name="study-rerun"),
    path("studies/<uuid:pk>/image/", views.study_image, name="study-image"),
    path("studies/<uuid:pk>/heatmap/", views.study_heatmap, name="study-heatmap"),
    path("studies/<uuid:pk>/claim/", views.study_claim, name="study-claim"),
    path("studies/<uuid:pk>/release/", views.study_release, name="study-release"),
    path("studies/<uuid:pk>/review/", views.study_review, name="study-review"),
    path("worklist/", views.worklist, name="worklist"),
    path("worklist/next/", study_pages.worklist_next, name="worklist-next"),
    path("model/", model_views.model_card, name="model-card"),
    path("model/report/<str:name>", model_views.model_report_file, name="model-report-file"),
    path("audit/", views.audit, name="audit"),
    path("monitoring/", monitoring_views.monitoring, name="monitoring"),
    path("monitoring/plot/<str:kind>.svg", monitoring_views.monitoring_plot, name="monitoring-plot"),
]
