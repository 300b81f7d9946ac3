"""Model pages: the model card, its report files, and monitoring."""

from __future__ import annotations

from django.urls import path

from modelops.views import model_card, monitoring, profiles

urlpatterns = [
    path("model/", model_card.model_card, name="model-card"),
    path("model/report/<str:name>", model_card.model_report_file, name="model-report-file"),
    path("model/calibrate/", profiles.profile_calibrate, name="model-calibrate"),
    path("model/profiles/<int:pk>/", profiles.profile_detail, name="model-profile"),
    path("model/profiles/<int:pk>/activate/", profiles.profile_activate_view, name="model-profile-activate"),
    path("monitoring/", monitoring.monitoring, name="monitoring"),
    path("monitoring/plot/<str:kind>.svg", monitoring.monitoring_plot, name="monitoring-plot"),
]
