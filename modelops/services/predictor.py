"""The worker's predictor: loaded once per worker process, lazily, in that process (never in the web)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from modelops.selectors import served_bundle_dir

logger = logging.getLogger(__name__)
_lock = threading.Lock()
# Every bundle this process has loaded, by folder: a promotion or rollback switches between them without
# reloading, and a shadow candidate that gets promoted is already warm.
_loaded: dict[str, Any] = {}


def _load(path: Path, *, warm: bool) -> Any:
    key = str(path)
    predictor = _loaded.get(key)
    if predictor is None:
        with _lock:
            if key not in _loaded:
                from mlcore.inference import load_predictor  # TensorFlow is imported only here

                loaded = load_predictor(path)
                if warm:
                    loaded.warm_up()
                logger.info("Loaded model %s in worker process", loaded.version)
                _loaded[key] = loaded
            predictor = _loaded[key]
    return predictor


def get_predictor() -> Any:
    """The served bundle's Predictor, loading (and warming) it on first use in this process.

    Which bundle is served is data (modelops.ServedBundle): one indexed query per call, so a promotion or
    rollback reaches every worker from its next study on, without a restart.
    """
    return _load(served_bundle_dir(), warm=True)


def predictor_with_profile() -> tuple[Any, Any]:
    """The served predictor set to its version's active operating profile, and that profile.

    Two indexed queries per study (served bundle, active profile), so a promotion or an activation
    reaches every worker from its next study on.
    """
    return _with_active_profile(get_predictor())


def _with_active_profile(predictor: Any) -> tuple[Any, Any]:
    from modelops.services.profiles import profile_active

    profile = profile_active(bundle=predictor.bundle)
    profiled = predictor.with_operating_point(
        temperature=profile.temperature, bias=profile.bias, threshold=profile.threshold, band=profile.band
    )
    return profiled, profile


def candidate_predictor(path: Path) -> tuple[Any, Any]:
    """A shadow candidate bundle's predictor (loaded once per worker process, verified) set to its version's
    active profile, and that profile."""
    return _with_active_profile(_load(path, warm=False))
