"""Reading pages: claim, release and review a study; the worklist."""

from __future__ import annotations

from django.urls import path

from reading.views import claims, reports, reviews, worklist

urlpatterns = [
    path("studies/<uuid:pk>/claim/", claims.study_claim, name="study-claim"),
    path("studies/<uuid:pk>/release/", claims.study_release, name="study-release"),
    path("studies/<uuid:pk>/review/", reviews.study_review, name="study-review"),
    path("studies/<uuid:pk>/report/", reports.report_page, name="study-report"),
    path("studies/<uuid:pk>/report.pdf", reports.report_download, name="study-report-pdf"),
    path("studies/<uuid:pk>/report/v<int:version>/", reports.report_page, name="study-report-version"),
    path(
        "studies/<uuid:pk>/report/v<int:version>.pdf",
        reports.report_download,
        name="study-report-version-pdf",
    ),
    path(
        "studies/<uuid:pk>/report/v<int:version>/<str:kind>.jpg",
        reports.report_image,
        name="study-report-image",
    ),
    path("worklist/", worklist.worklist, name="worklist"),
    path("worklist/next/", worklist.worklist_next, name="worklist-next"),
]
