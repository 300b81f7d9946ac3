"""Which model bundle the portal serves: the one answer the worker, health, the model page, the model-info
API and monitoring all ask for (AIRSPACE_MODEL_BUNDLE when set, else the bundle models/CURRENT names)."""

from __future__ import annotations

from django.conf import settings

from mlcore.bundle import Bundle, load_bundle


def active_bundle(*, verify: bool = False) -> Bundle:
    """The bundle this portal serves, parsed; BundleError saying why when there is none or it is broken.

    `verify` also checks the weights and every serving artifact against their recorded sha256 (no
    TensorFlow): the worker does this before it starts, pages only need the parsed metadata.
    """
    return load_bundle(settings.AIRSPACE_MODEL_BUNDLE, serving=verify, verify=verify)
