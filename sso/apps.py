"""The sso app: OpenID Connect sign-in; off unless AIRSPACE_OIDC_* is configured."""

from __future__ import annotations

from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "Single sign-on"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the configuration checks (role map syntax, a way to sign in)."""
        from sso import checks  # noqa: F401
