"""Reading pages: claim, release and review a study; the worklist."""

from __future__ import annotations

from django.urls import path

from reading.views import claims, reviews, worklist

urlpatterns = [
    path("studies/<uuid:pk>/claim/", claims.study_claim, name="study-claim"),
    path("studies/<uuid:pk>/release/", claims.study_release, name="study-release"),
    path("studies/<uuid:pk>/review/", reviews.study_review, name="study-review"),
    path("worklist/", worklist.worklist, name="worklist"),
    path("worklist/next/", worklist.worklist_next, name="worklist-next"),
]
