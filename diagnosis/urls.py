"""Study pages."""

from __future__ import annotations

from django.urls import path

from diagnosis.views import media, patients, studies, uploads

urlpatterns = [
    path("patients/", patients.patient_list, name="patient-list"),
    path("patients/<uuid:pk>/", patients.patient_detail, name="patient-detail"),
    path("studies/", studies.study_list, name="study-list"),
    path("studies/new/", uploads.study_upload, name="study-upload"),
    path("studies/<uuid:pk>/", studies.study_detail, name="study-detail"),
    path("studies/<uuid:pk>/status/", studies.study_status, name="study-status"),
    path("studies/<uuid:pk>/panels/", studies.study_panels, name="study-panels"),
    path("studies/<uuid:pk>/cancel/", studies.study_cancel, name="study-cancel"),
    path("studies/<uuid:pk>/rerun/", studies.study_rerun, name="study-rerun"),
    path("studies/<uuid:pk>/image/", media.study_image, name="study-image"),
    path("studies/<uuid:pk>/pixels/", media.study_pixels, name="study-pixels"),
    path("studies/<uuid:pk>/views/<uuid:image_id>/image/", media.study_image, name="study-view-image"),
    path("studies/<uuid:pk>/views/<uuid:image_id>/pixels/", media.study_pixels, name="study-view-pixels"),
    path("studies/<uuid:pk>/heatmap/", media.study_heatmap, name="study-heatmap"),
]
