"""WSGI entry point (gunicorn portal.wsgi)."""

from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.dev")
application = get_wsgi_application()


def _warm_up() -> None:
    """Import at boot what the first request would otherwise import lazily in each gunicorn process: the
    URLconf with every view, the image decoders, Celery's publishing side (~0.5 s of CPU per process,
    bench/load.py). Nothing here opens a connection, so it is safe before a fork (gunicorn --preload)."""
    from django.urls import get_resolver
    from PIL import Image

    import mlcore.decoding  # noqa: F401
    from portal.celery import app

    get_resolver().url_patterns  # noqa: B018 - loading the URLconf is the point
    Image.init()
    app.amqp  # noqa: B018 - builds the task-message machinery (no connection)
    app.loader.import_default_modules()


_warm_up()
# Everything loaded so far lives as long as the process: keep it out of the garbage collector's full
# passes (gc.freeze), which otherwise walk every module, class and URL pattern again and again (~1-2 ms
# of CPU per upload in process, bench/load.py).
gc.freeze()
