"""Portal app config: registers the auth audit signal receivers."""

from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"

    def ready(self) -> None:
        """Connect login/logout/failed-login audit receivers and the token revocation receivers."""
        from portal import auth, tokens  # noqa: F401
