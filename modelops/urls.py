"""Model pages: the model card, its report files, and monitoring."""

from __future__ import annotations

from django.urls import path

from modelops.views import model_card, monitoring, profiles, shadow

urlpatterns = [
    path("model/", model_card.model_card, name="model-card"),
    path("model/report/<str:name>", model_card.model_report_file, name="model-report-file"),
    path("model/calibrate/", profiles.profile_calibrate, name="model-calibrate"),
    path("model/calibrations/<int:pk>/", profiles.calibration_detail, name="model-calibration"),
    path("model/profiles/<int:pk>/", profiles.profile_detail, name="model-profile"),
    path("model/profiles/<int:pk>/activate/", profiles.profile_activate_view, name="model-profile-activate"),
    path("model/shadow/", shadow.shadow_page, name="model-shadow"),
    path("model/shadow/start/", shadow.shadow_start_view, name="model-shadow-start"),
    path("model/shadow/<int:pk>/promote/", shadow.shadow_promote_view, name="model-shadow-promote"),
    path("model/shadow/<int:pk>/rollback/", shadow.shadow_rollback_view, name="model-shadow-rollback"),
    path("model/shadow/<int:pk>/stop/", shadow.shadow_stop_view, name="model-shadow-stop"),
    path("monitoring/", monitoring.monitoring, name="monitoring"),
    path(
        "monitoring/alerts/<int:pk>/acknowledge/",
        monitoring.drift_alert_acknowledge,
        name="monitoring-alert-acknowledge",
    ),
    path("monitoring/plot/<str:kind>.svg", monitoring.monitoring_plot, name="monitoring-plot"),
]
