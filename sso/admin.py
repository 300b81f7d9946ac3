"""Admin: see (and, by deleting, unlink) which provider account is which user."""

from __future__ import annotations

from django.contrib import admin

from sso.models import SsoIdentity


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    list_display = ("user", "issuer", "subject", "created_at", "last_login_at")
    search_fields = ("user__username", "subject")
    readonly_fields = ("user", "issuer", "subject", "created_at", "last_login_at")

    def has_add_permission(self, request: object) -> bool:
        """Links are made by a provider login, never typed in (a typo would hand over an account)."""
        return False
