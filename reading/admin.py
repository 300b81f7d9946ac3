"""Django admin: signed reviews, read-only."""

from __future__ import annotations

from django.contrib import admin

from portal.readonly_admin import ReadOnlyAdmin
from reading.models import Review


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "study", "version", "decision", "final_label", "reviewer", "signed_at"]
