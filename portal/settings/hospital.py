"""Settings for the hospital's systems: single sign-on over OpenID Connect and HL7 v2 results to the EHR."""

from __future__ import annotations

import os

from portal.settings.env import env_bool, env_int

# Single sign-on over OpenID Connect (sso app, docs/INTEGRATION.md). Off unless a client id and an issuer
# (discovery) or the four endpoints are set. Provider groups map to roles and a department on every login.
AIRSPACE_OIDC_ISSUER = os.environ.get("AIRSPACE_OIDC_ISSUER", "").strip()
OIDC_RP_CLIENT_ID = os.environ.get("AIRSPACE_OIDC_CLIENT_ID", "").strip()
OIDC_RP_CLIENT_SECRET = os.environ.get("AIRSPACE_OIDC_CLIENT_SECRET", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("AIRSPACE_OIDC_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("AIRSPACE_OIDC_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("AIRSPACE_OIDC_USERINFO_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("AIRSPACE_OIDC_JWKS_ENDPOINT", "")
OIDC_RP_SCOPES = os.environ.get("AIRSPACE_OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = os.environ.get("AIRSPACE_OIDC_SIGN_ALGO", "RS256")
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True  # S256 code challenge; providers that do not support PKCE ignore it
OIDC_TIMEOUT = env_int("AIRSPACE_OIDC_TIMEOUT", 10)
OIDC_VERIFY_SSL = True
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
AIRSPACE_OIDC_USE_USERINFO = env_bool("AIRSPACE_OIDC_USE_USERINFO", True)
AIRSPACE_OIDC_PROVIDER_NAME = os.environ.get("AIRSPACE_OIDC_PROVIDER_NAME", "single sign-on")
AIRSPACE_OIDC_GROUPS_CLAIM = os.environ.get("AIRSPACE_OIDC_GROUPS_CLAIM", "groups")
AIRSPACE_OIDC_USERNAME_CLAIM = os.environ.get("AIRSPACE_OIDC_USERNAME_CLAIM", "preferred_username")
# "provider-group=role,..." (roles: clinician, radiologist, admin) or a JSON object; unmapped groups grant nothing.
AIRSPACE_OIDC_ROLE_MAP = os.environ.get("AIRSPACE_OIDC_ROLE_MAP", "")
# "provider-group=Department name,..."; empty: departments are managed in Airspace, not by the provider.
AIRSPACE_OIDC_DEPARTMENT_MAP = os.environ.get("AIRSPACE_OIDC_DEPARTMENT_MAP", "")
# Who may sign in with a local password: all, admins (break-glass admin accounts only) or off.
AIRSPACE_LOCAL_LOGIN = os.environ.get("AIRSPACE_LOCAL_LOGIN", "all").strip().lower()


# HL7 v2.5 ORU^R01 results over MLLP to the hospital's interface engine (#18 item 3). Off unless a host is
# set: each recorded prediction (OBR-25 P), signed read (F) and amendment (C) becomes one delivery row,
# sent by a Celery task and retried with exponential backoff until ACKed (AA) or out of attempts.
AIRSPACE_HL7_HOST = os.environ.get("AIRSPACE_HL7_HOST", "")
AIRSPACE_HL7_PORT = env_int("AIRSPACE_HL7_PORT", 2575)
AIRSPACE_HL7_TIMEOUT = env_int("AIRSPACE_HL7_TIMEOUT", 10)
AIRSPACE_HL7_MAX_ATTEMPTS = env_int("AIRSPACE_HL7_MAX_ATTEMPTS", 10)
AIRSPACE_HL7_RETRY_SECONDS = env_int("AIRSPACE_HL7_RETRY_SECONDS", 5)
AIRSPACE_HL7_RETRY_MAX_SECONDS = env_int("AIRSPACE_HL7_RETRY_MAX_SECONDS", 600)
# A pending delivery whose task is this overdue was lost (broker restart, crash before publish): resent.
AIRSPACE_HL7_SWEEP_SECONDS = env_int("AIRSPACE_HL7_SWEEP_SECONDS", 60)
AIRSPACE_HL7_SWEEP_GRACE_SECONDS = env_int("AIRSPACE_HL7_SWEEP_GRACE_SECONDS", 120)
AIRSPACE_HL7_SWEEP_BATCH = env_int("AIRSPACE_HL7_SWEEP_BATCH", 200)
AIRSPACE_HL7_SENDING_FACILITY = os.environ.get("AIRSPACE_HL7_SENDING_FACILITY", "AIRSPACE")
AIRSPACE_HL7_RECEIVING_APPLICATION = os.environ.get("AIRSPACE_HL7_RECEIVING_APPLICATION", "EHR")
AIRSPACE_HL7_RECEIVING_FACILITY = os.environ.get("AIRSPACE_HL7_RECEIVING_FACILITY", "HOSPITAL")
AIRSPACE_HL7_PROCESSING_ID = os.environ.get("AIRSPACE_HL7_PROCESSING_ID", "P")  # MSH-11: P, T or D


# DICOM in (pacs app, docs/DICOM.md): `manage.py dicom_listen` is a C-STORE SCP with this AE title on this
# port; only registered inbound nodes (`manage.py dicom_node add ... --inbound`) may associate.
AIRSPACE_DICOM_AE_TITLE = os.environ.get("AIRSPACE_DICOM_AE_TITLE", "AIRSPACE").strip()
AIRSPACE_DICOM_BIND = os.environ.get("AIRSPACE_DICOM_BIND", "0.0.0.0")
AIRSPACE_DICOM_PORT = env_int("AIRSPACE_DICOM_PORT", 11112)
# A study is analysed once no instance of it has arrived for this long.
AIRSPACE_DICOM_STUDY_QUIET_SECONDS = env_int("AIRSPACE_DICOM_STUDY_QUIET_SECONDS", 5)
AIRSPACE_DICOM_MAX_INSTANCES_PER_ASSOCIATION = env_int("AIRSPACE_DICOM_MAX_INSTANCES_PER_ASSOCIATION", 500)
AIRSPACE_DICOM_IDLE_SECONDS = env_int("AIRSPACE_DICOM_IDLE_SECONDS", 60)
# Intended-use flags (adult_patient, infant_patient) whose instances are ignored instead of analysed with a
# notice, e.g. "adult_patient" at a children's hospital PACS that also routes adults; empty: all analysed.
AIRSPACE_DICOM_IGNORED_AGE_FLAGS = tuple(
    flag.strip() for flag in os.environ.get("AIRSPACE_DICOM_IGNORED_AGE_FLAGS", "").split(",") if flag.strip()
)
# Key of the encrypted inbox holding received instances until their study is filed (pacs/services/inbox.py);
# empty: derived from DJANGO_SECRET_KEY. Keep it out of the database and its backups.
AIRSPACE_DICOM_INBOX_KEY = os.environ.get("AIRSPACE_DICOM_INBOX_KEY", "")
# Beat files collecting studies whose release task was lost.
AIRSPACE_DICOM_SWEEP_SECONDS = env_int("AIRSPACE_DICOM_SWEEP_SECONDS", 30)

# DICOM out (pacs app): each result object goes to every active outbound node as its own task, retried with
# doubling backoff from RETRY_SECONDS capped at RETRY_MAX_SECONDS; 40 attempts at the cap keep trying for
# about three hours, so a PACS down for an hour gets everything once it is back. The beat sweep re-sends a
# pending delivery whose task was lost.
AIRSPACE_DICOM_SEND_TIMEOUT = env_int("AIRSPACE_DICOM_SEND_TIMEOUT", 30)
AIRSPACE_DICOM_MAX_ATTEMPTS = env_int("AIRSPACE_DICOM_MAX_ATTEMPTS", 40)
AIRSPACE_DICOM_RETRY_SECONDS = env_int("AIRSPACE_DICOM_RETRY_SECONDS", 5)
AIRSPACE_DICOM_RETRY_MAX_SECONDS = env_int("AIRSPACE_DICOM_RETRY_MAX_SECONDS", 300)
AIRSPACE_DICOM_DELIVERY_SWEEP_SECONDS = env_int("AIRSPACE_DICOM_DELIVERY_SWEEP_SECONDS", 60)
AIRSPACE_DICOM_SWEEP_GRACE_SECONDS = env_int("AIRSPACE_DICOM_SWEEP_GRACE_SECONDS", 120)
AIRSPACE_DICOM_SWEEP_BATCH = env_int("AIRSPACE_DICOM_SWEEP_BATCH", 200)
# Who made the result objects: the institution named in them (blank: none).
AIRSPACE_DICOM_INSTITUTION = os.environ.get("AIRSPACE_DICOM_INSTITUTION", "")


# Email (notifications, password-reset links) through Django's mailers (MAILERS, new in Django 6.1): the
# console in development; production sends over the hospital's SMTP server when AIRSPACE_EMAIL_HOST is set
# and sends none otherwise (notifications stay in the bell). portal/settings/prod.py refuses a half-configured
# server. AIRSPACE_EMAIL_BACKEND / AIRSPACE_EMAIL_FILE_PATH are for development and the browser tests.
_EMAIL_FILE_PATH = os.environ.get("AIRSPACE_EMAIL_FILE_PATH", "")
MAILERS = {
    "default": {
        "BACKEND": os.environ.get(
            "AIRSPACE_EMAIL_BACKEND",
            "django.core.mail.backends.filebased.EmailBackend"
            if _EMAIL_FILE_PATH
            else "django.core.mail.backends.console.EmailBackend",
        ),
        "OPTIONS": {"file_path": _EMAIL_FILE_PATH} if _EMAIL_FILE_PATH else {},
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("AIRSPACE_EMAIL_FROM", "Airspace <airspace@localhost>")
AIRSPACE_EMAIL_ENABLED = True
# The address users reach the portal at: links in emails (a worker has no request to take it from).
AIRSPACE_PUBLIC_URL = os.environ.get("AIRSPACE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
AIRSPACE_NOTIFY_EMAIL_MAX_ATTEMPTS = env_int("AIRSPACE_NOTIFY_EMAIL_MAX_ATTEMPTS", 5)
# A pending email no task has taken after this long lost its task (broker down at publish): the sweep
# (AIRSPACE_EMAIL_SWEEP_SECONDS) sends it. Emails wait behind queued studies, so allow for a backlog.
AIRSPACE_EMAIL_LOST_AFTER_SECONDS = env_int("AIRSPACE_EMAIL_LOST_AFTER_SECONDS", 300)
