"""Admin for API tokens and users: who holds a token until when, never a token or its digest."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from knox.models import AuthToken

from audit.services.events import ctx
from portal.tokens import token_revoke, tokens_revoke_all

admin.site.unregister(AuthToken)  # knox's own admin lists digests and links by digest


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued only by the API; here they can be seen (holder, dates) and revoked."""

    list_display = ["user", "created", "expiry"]
    list_display_links = None  # no detail page: its URL and title would be the digest
    search_fields = ["user__username"]
    actions = ["revoke"]

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return obj is None and super().has_view_permission(request)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # no delete_selected: its confirmation page names each token by its digest

    def has_revoke_permission(self, request: Any) -> bool:
        return super().has_delete_permission(request)

    @admin.action(description="Revoke the selected API tokens", permissions=["revoke"])
    def revoke(self, request: Any, queryset: Any) -> None:
        tokens = list(queryset.select_related("user"))
        for token in tokens:
            token_revoke(token=token, actor=request.user, context=ctx(request))
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


admin.site.unregister(User)


@admin.register(User)
class AirspaceUserAdmin(UserAdmin):
    """Django's user admin plus one action: revoke all of the selected users' API tokens."""

    actions = ["revoke_api_tokens"]

    @admin.action(description="Revoke all API tokens of the selected users", permissions=["change"])
    def revoke_api_tokens(self, request: Any, queryset: Any) -> None:
        revoked = sum(
            tokens_revoke_all(
                user=user,
                actor=request.user,
                reason="revoked by an administrator",
                context=ctx(request),
            )
            for user in queryset
        )
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
