# One image for web (gunicorn), worker (celery, inference queue) and beat (sweeper, audit anchors).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=portal.settings.prod \
    AIRSPACE_VAR_DIR=/app/var \
    AIRSPACE_MEDIA_ROOT=/data/media \
    AIRSPACE_AUDIT_ANCHOR_FILE=/data/anchors/audit-anchors.jsonl

WORKDIR /app

# Dependencies first (pinned in pyproject.toml) so that code changes do not reinstall TensorFlow.
COPY pyproject.toml ./
RUN pip install --upgrade pip && pip install .

COPY manage.py gunicorn.conf.py ./
COPY portal ./portal
COPY audit ./audit
COPY diagnosis ./diagnosis
COPY reading ./reading
COPY modelops ./modelops
COPY backups ./backups
COPY sso ./sso
COPY integrations ./integrations
COPY pacs ./pacs
COPY notifications ./notifications
COPY mlcore ./mlcore
COPY models ./models

# Static files are collected into the image (served by WhiteNoise). Production settings refuse to load
# without their secrets, so placeholder values are given for this build step only.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 AIRSPACE_AUDIT_HMAC_KEY=collectstatic-only \
    python manage.py collectstatic --noinput -v0 \
 && rm -f /tmp/collectstatic.sqlite3

# Non-root runtime user; it owns only the runtime state folders.
RUN groupadd --system --gid 10001 airspace \
 && useradd --system --uid 10001 --gid airspace --home-dir /app --shell /usr/sbin/nologin airspace \
 && mkdir -p /app/var /data/media /data/anchors \
 && chown -R airspace:airspace /app/var /data
USER airspace

EXPOSE 8000
# The default command serves the web app; compose overrides it for the worker and beat.
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--timeout", "60", "--access-logfile", "-"]
