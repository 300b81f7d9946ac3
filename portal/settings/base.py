"""Settings shared by every environment; each value an operator may change is read from the environment."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from portal.settings.env import env_bool, env_float, env_int

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Runtime state (SQLite, embedded broker, private media) lives outside any served path.
VAR_DIR = Path(os.environ.get("AIRSPACE_VAR_DIR", BASE_DIR / "var"))


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "portal",
    "audit",
    "diagnosis",
    "reading",
    "modelops",
    "sso",
    "integrations",
    "pacs",
    "backups",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.sessions.SessionLifetimeMiddleware",
    "audit.middleware.AuditRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "portal.roles.roles_context",
                "notifications.context_processors.bell",
            ],
        },
    }
]

# DATABASE_URL selects the real database; without it the embedded default is SQLite under var/.
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'airspace.sqlite3'}",
        # Persistent connections: a new PostgreSQL backend per request/task costs milliseconds each time.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a health check that reads the socket instead of a SELECT 1 per request (#17).
    DATABASES["default"]["ENGINE"] = "portal.postgresql"
    # Parameters bound on the server, and a statement run 5 times on a connection prepared there (#17): the
    # server then skips parsing and planning it. A study's join SELECT cost the server 0.085 ms instead of
    # 0.25, and PostgreSQL 10-11 CPU-ms per study instead of 14-15 under load (docs/RELIABILITY.md). Django
    # leaves both off for poolers; compose connects directly (docs/DEPLOY.md). A message of several
    # statements with parameters takes portal.frozen_queries.statements_cursor, which binds on the client.
    # DB_PREPARE_THRESHOLD=-1 binds on the server without preparing (for a pooler that loses them).
    _prepare = env_int("DB_PREPARE_THRESHOLD", 5)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=_prepare if _prepare >= 0 else None
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL plus a busy timeout lets the web process and the worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "sso.backends.LocalPasswordBackend",  # ModelBackend + AIRSPACE_LOCAL_LOGIN
    "sso.backends.OidcBackend",  # answers only the /oidc/callback/ view, and only when SSO is configured
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR networks, comma-separated). Empty:
# REMOTE_ADDR is the client. portal/addresses.py resolves the client for throttles, lockouts and audit.
AIRSPACE_TRUSTED_PROXIES = [
    p.strip() for p in os.environ.get("AIRSPACE_TRUSTED_PROXIES", "").split(",") if p.strip()
]

# Failed-login lockout (django-axes), per username+IP. Issue #7: throttled, but never below 10 attempts
# a minute per username (integrations keep working): the 11th failure locks for a minute.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 11)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 1) / 60  # hours
# Issue #17: also per address alone, so one password cannot be sprayed across usernames from one address
# (at most 10 failures a minute per address; a NAT shared by many users shares that budget).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_CLIENT_IP_CALLABLE = "portal.addresses.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "portal.auth.lockout_response"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]

# Uploaded images and heatmaps: private storage, no MEDIA_URL is ever routed; views stream them.
MEDIA_ROOT = Path(os.environ.get("AIRSPACE_MEDIA_ROOT", VAR_DIR / "media"))
# Images and heatmaps are readable by the service's user and group only (web and worker share a group).
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if os.environ.get("AIRSPACE_S3_BUCKET"):
    # Several hosts: images and heatmaps in an S3-compatible object store (MinIO in compose).
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["AIRSPACE_S3_BUCKET"],
            "endpoint_url": os.environ.get("AIRSPACE_S3_ENDPOINT_URL"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }

# Admission control under overload (#17, diagnosis.services.admission): when more studies wait for a worker
# than the workers finish in this many seconds (at their rate over the last 5 s; at least 16 waiting), each
# upload's answer waits a little (20 ms per study over it, at most 250 ms), so a long burst slows to what the
# workers analyse instead of a backlog that grows while it lasts. 0 turns it off.
AIRSPACE_UPLOAD_QUEUE_SECONDS = env_float("AIRSPACE_UPLOAD_QUEUE_SECONDS", 0.8)
# Upload limits: a 413 with a JSON body above AIRSPACE_MAX_UPLOAD_BYTES.
AIRSPACE_MAX_UPLOAD_BYTES = env_int("AIRSPACE_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
# Checked from the header before any decoding (#17: a 188 KB PNG of 60 MP was accepted). The largest chest
# detectors are about 4300 x 4300 (18.5 MP); 36 MP (6000 x 6000) leaves room and refuses pixel bombs.
AIRSPACE_MAX_PIXELS = env_int("AIRSPACE_MAX_PIXELS", 36_000_000)
AIRSPACE_MIN_SIDE = env_int("AIRSPACE_MIN_SIDE", 64)
# The viewer loads a film above this many pixels as an overview (every n-th stored value) and the region in
# view at full resolution when zoomed in, so a tab's memory stays bounded on 36-60 MP films (#19).
AIRSPACE_VIEWER_PIXEL_BUDGET = env_int("AIRSPACE_VIEWER_PIXEL_BUDGET", 12_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
AIRSPACE_DEIDENTIFY_DICOM = env_bool("AIRSPACE_DEIDENTIFY_DICOM", True)
# Secret salt for the consistent DICOM UID remapping (same source UID -> same new UID); empty derives one
# from DJANGO_SECRET_KEY. Changing it splits future uploads of a study from earlier ones.
AIRSPACE_DICOM_UID_SALT = os.environ.get("AIRSPACE_DICOM_UID_SALT", "")
AIRSPACE_MODEL_BUNDLE = os.environ.get("AIRSPACE_MODEL_BUNDLE") or None
# Where promotable bundle folders live (a promotion names a folder here); default: the project's models/.
AIRSPACE_MODELS_DIR = os.environ.get("AIRSPACE_MODELS_DIR") or None
# A callable run between a worker claiming a study and predicting it; only the test settings set one.
AIRSPACE_BEFORE_PREDICT_HOOK = None

# Worklist policy.
AIRSPACE_ESCALATE_AFTER_MINUTES = env_int("AIRSPACE_ESCALATE_AFTER_MINUTES", 240)
AIRSPACE_CLAIM_MINUTES = env_int("AIRSPACE_CLAIM_MINUTES", 15)
# Override reasons offered to radiologists, in display order: "code" or "code:Label", comma-separated.
# The codes are fixed on the wire (image_quality, missed_finding, false_alarm, wrong_input, other).
AIRSPACE_REVIEW_REASONS = [
    entry.strip()
    for entry in os.environ.get(
        "AIRSPACE_REVIEW_REASONS", "image_quality,missed_finding,false_alarm,wrong_input,other"
    ).split(",")
    if entry.strip()
]
# Sweeper: a study queued or processing longer than this is re-enqueued.
AIRSPACE_STUCK_AFTER_SECONDS = env_int("AIRSPACE_STUCK_AFTER_SECONDS", 90)
# Calibration runs (modelops): a pending run whose task was sent this long ago is sent again (the message
# was lost); a running one claimed this long ago is failed (its worker died: the task's hard limit is 330 s).
AIRSPACE_CALIBRATION_REQUEUE_AFTER_SECONDS = env_int("AIRSPACE_CALIBRATION_REQUEUE_AFTER_SECONDS", 120)
AIRSPACE_CALIBRATION_STALE_AFTER_SECONDS = env_int("AIRSPACE_CALIBRATION_STALE_AFTER_SECONDS", 900)
# Audit chain anchoring key: kept outside the database.
AIRSPACE_AUDIT_HMAC_KEY = os.environ.get("AIRSPACE_AUDIT_HMAC_KEY", "")
AIRSPACE_AUDIT_ANCHOR_FILE = Path(
    os.environ.get("AIRSPACE_AUDIT_ANCHOR_FILE", VAR_DIR / "audit-anchors.jsonl")
)


def filesystem_broker_options(folder: Path) -> dict[str, object]:
    """kombu's filesystem transport rooted at `folder` (messages, processed and control tables inside it)."""
    return {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(folder / "processed"),
        # Fanout (control/pidbox) exchange tables; kombu's default is ./control in the working directory.
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


# DRF throttle counters live in the cache: AIRSPACE_CACHE_URL (Redis) shares them between web processes.
# Without it each process counts alone (the embedded default and the tests).
if os.environ.get("AIRSPACE_CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["AIRSPACE_CACHE_URL"],
        }
    }

# Celery: REDIS_URL selects the real broker; without it an embedded filesystem broker needs no server.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport with one command client per channel, not one per command (portal/broker.py).
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        # A task whose worker died is redelivered after this; it must exceed the hard time limit.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 75),
        "socket_connect_timeout": 2,
        "socket_timeout": 3,
        # Publishing makes one connection attempt: an upload during a Redis outage answers 201 at once
        # (the study stays queued for the sweeper) instead of hanging ~6 s in kombu's reconnect loop.
        # Workers' consumers reconnect with their own policy (broker_connection_max_retries).
        "max_retries": 0,
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(CELERY_BROKER_DIR)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Each worker process holds its next study while it runs one (reserved in the database, so a worker that
# dies holding it has it released and re-enqueued first in line, like its claim): the next study starts as
# the last ends, not after the ack, the broker round trip and the reservation. Upload->result p99 1.63-1.84
# s against 1.75-2.16 s with 1, interleaved (#17; docs/RELIABILITY.md, "CPU per study (#17, session 8)").
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 2)
# Redis serves priority 0 first (it BRPOPs the lists of priority steps 0, 3, 6, 9 in that order): new
# studies go to step 6, so a study re-enqueued after its worker died (priority 0) overtakes the backlog.
CELERY_TASK_DEFAULT_PRIORITY = 6
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 45)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 60)
CELERY_TASK_DEFAULT_QUEUE = "inference"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False
# Celery's Django fixup closes every database connection before and after each task unless this is set,
# so each study paid a new PostgreSQL backend (~14 ms of a ~30 ms task, measured). Connections are reused
# for this many tasks instead; modelops.worker_signals still drops unusable or CONN_MAX_AGE-old ones.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 500)
# A worker whose process died holding a claim (issue #17: done within 15 s of a live worker): every
# worker refreshes its heartbeat row every AIRSPACE_HEARTBEAT_SECONDS; a claim whose worker was not seen
# for AIRSPACE_WORKER_DEAD_AFTER_SECONDS is released by the next beat of any live worker (or the sweep)
# and re-enqueued at broker priority 0, ahead of the backlog. Fallbacks for claims naming no worker:
# stale claim at hard limit + 5 s, then the next sweep; or Redis redelivery after the visibility timeout.
AIRSPACE_HEARTBEAT_SECONDS = env_int("AIRSPACE_HEARTBEAT_SECONDS", 2)
AIRSPACE_WORKER_DEAD_AFTER_SECONDS = env_int("AIRSPACE_WORKER_DEAD_AFTER_SECONDS", 6)
# The periodic sweeps and checks: portal/settings/schedule.py.
from portal.settings.schedule import CELERY_BEAT_SCHEDULE  # noqa: E402, F401

# API tokens (django-rest-knox): only a SHA-512 digest is stored, each expires, logout revokes it, and a
# password change or deactivation revokes all of a user's tokens (portal/tokens.py). #17 finding 5.
AIRSPACE_TOKEN_TTL_HOURS = env_int("AIRSPACE_TOKEN_TTL_HOURS", 10)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=AIRSPACE_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",  # integrations keep sending "Authorization: Token <token>"
    "AUTO_REFRESH": False,  # a fixed lifetime: a stolen token is not kept alive by use
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.TokenAuthentication",  # knox's, in one query (see the module)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.StandardPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth": os.environ.get("AIRSPACE_AUTH_THROTTLE", "10/min"),
        # Per user, API and upload page alike (#17); an integration pushing a backlog may need more.
        "upload": os.environ.get("AIRSPACE_UPLOAD_THROTTLE", "300/min"),
    },
    # Our throttles resolve the client with portal.addresses.client_ip; any stock DRF throttle ignores
    # X-Forwarded-For (NUM_PROXIES=None would key on the whole client-written header).
    "NUM_PROXIES": 0,
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Airspace API",
    "DESCRIPTION": "AI decision support for paediatric chest X-rays — not a diagnosis.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per shared choice set: the AI's Label (prediction, filters) and the ReadLabel a
    # radiologist signs (review final_label, final_read.label), which adds NON_DIAGNOSTIC.
    "ENUM_NAME_OVERRIDES": {
        "LabelEnum": "diagnosis.models.Label",
        "ReadLabelEnum": "reading.models.ReadLabel",
        "SexEnum": "diagnosis.models.Patient.Sex",
        "StatusEnum": "diagnosis.models.Study.Status",  # the study status keeps its name
        "EhrDeliveryStatusEnum": "integrations.models.Hl7Delivery.State",
        "EhrDeliveryEventEnum": "integrations.models.Hl7Delivery.Event",
        "StudySourceEnum": "diagnosis.models.StudySource",
        "ProfileSourceEnum": "modelops.models.OperatingProfile.Source",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.add_error_responses",
    ],
}

SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", "blob:"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'self'"],
    "object-src": ["'none'"],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Idle timeout, sliding (portal/sessions.py); and an absolute maximum whatever the activity (#17).
AIRSPACE_SESSION_IDLE_MINUTES = env_int("AIRSPACE_SESSION_IDLE_MINUTES", 30)
AIRSPACE_SESSION_MAX_HOURS = env_int("AIRSPACE_SESSION_MAX_HOURS", 8)
SESSION_COOKIE_AGE = AIRSPACE_SESSION_IDLE_MINUTES * 60

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # Seven INFO lines per SR built and six per association: the audit trail records what matters.
        "highdicom": {"level": "WARNING"},
        "pynetdicom": {"level": "WARNING"},
    },
}

# Hospital systems: single sign-on (OpenID Connect) and HL7 v2 results to the EHR.
from portal.settings.hospital import *  # noqa: E402, F403
