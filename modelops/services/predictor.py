"""The worker's predictor: loaded once per worker process, lazily, in that process (never in the web)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from modelops.selectors import active_bundle

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_predictor: Any = None


def get_predictor() -> Any:
    """The process-wide Predictor, loading (and warming) it on first use."""
    global _predictor
    if _predictor is None:
        with _lock:
            if _predictor is None:
                from mlcore.inference import load_predictor  # TensorFlow is imported only here

                predictor = load_predictor(active_bundle().path)
                predictor.warm_up()
                logger.info("Loaded model %s in worker process", predictor.version)
                _predictor = predictor
    return _predictor


def predictor_with_profile() -> tuple[Any, Any]:
    """The process's predictor set to its version's active operating profile, and that profile.

    One indexed query per study, so an activation reaches every worker from its next study on.
    """
    return _with_active_profile(get_predictor())


def _with_active_profile(predictor: Any) -> tuple[Any, Any]:
    from modelops.services.profiles import profile_active

    profile = profile_active(bundle=predictor.bundle)
    profiled = predictor.with_operating_point(
        temperature=profile.temperature, bias=profile.bias, threshold=profile.threshold, band=profile.band
    )
    return profiled, profile


_candidates: dict[str, Any] = {}


def candidate_predictor(path: Path) -> tuple[Any, Any]:
    """A shadow candidate bundle's predictor (loaded once per worker process, verified) set to its version's
    active profile, and that profile."""
    key = str(path)
    with _lock:
        if key not in _candidates:
            from mlcore.inference import load_predictor

            _candidates[key] = load_predictor(path)
    return _with_active_profile(_candidates[key])
