"""The embedded default: runs on a fresh machine with no secrets and no external service."""

from __future__ import annotations

from portal.settings.base import *  # noqa: F403
from portal.settings.base import CELERY_BROKER_DIR, SECRET_KEY, VAR_DIR, env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
# A development-only key; production refuses to start without DJANGO_SECRET_KEY.
SECRET_KEY = SECRET_KEY or "dev-insecure-airspace-key-not-for-production"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
AIRSPACE_AUDIT_HMAC_KEY = "dev-insecure-audit-anchor-key"
VAR_DIR.mkdir(parents=True, exist_ok=True)
# The embedded filesystem broker does not create its folder: a worker started first on a fresh var/ died.
(CELERY_BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
