"""The Celery app. TensorFlow is never imported here: workers load the model in the child process."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.dev")


class DjangoCelerySettings(Mapping[str, Any]):
    """Django's CELERY_* settings, copied once when Celery first reads its configuration.

    Celery reads options on every publish and every delivered message, trying each option's namespaced and
    old-style names in turn. Against django.conf.settings (a lazy proxy) each miss was an AttributeError
    through the proxy: a fifth of the CPU of a publish (bench/publish.py). Settings do not change while a
    process runs, so a dict holds them.
    """

    @cached_property
    def _options(self) -> dict[str, Any]:
        from django.conf import settings

        return {name: getattr(settings, name) for name in dir(settings) if name.startswith("CELERY_")}

    def __getitem__(self, name: str) -> Any:
        return self._options[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)


app = Celery("portal")
app.config_from_object(DjangoCelerySettings(), namespace="CELERY")
app.autodiscover_tasks()
