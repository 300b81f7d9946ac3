"""The worker's predictor: loaded once per worker process, lazily, in that process (never in the web)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelops.selectors import ShadowInProgress, served_bundle_dir, serving_state, shadow_in_progress

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


@dataclass(frozen=True)
class Serving:
    """What labels the next study: the served predictor set to its version's active profile, that profile,
    and the shadow run in progress (the candidate scores the study apart once it is recorded)."""

    predictor: Any
    profile: Any
    shadow: ShadowInProgress | None


def serving_now() -> Serving:
    """The worker's view before every study: one statement (modelops.selectors.serving_state), so a
    promotion, a profile activation or a shadow start reaches every worker from its next study on."""
    state = serving_state()
    if state is not None:
        predictor = _load(state.bundle_dir, warm=True)
        profile = state.profiles.get(predictor.version)
        if profile is not None:
            return Serving(_at_operating_point(predictor, profile), profile, state.shadow)
    # No active profile for the served version yet: it is created (audited), and the rest asked apart.
    predictor, profile = predictor_with_profile()
    return Serving(predictor, profile, shadow_in_progress())


def _with_active_profile(predictor: Any) -> tuple[Any, Any]:
    from modelops.services.profiles import profile_active

    profile = profile_active(bundle=predictor.bundle)
    return _at_operating_point(predictor, profile), profile


def _at_operating_point(predictor: Any, profile: Any) -> Any:
    return predictor.with_operating_point(
        temperature=profile.temperature, bias=profile.bias, threshold=profile.threshold, band=profile.band
    )


def candidate_predictor(path: Path) -> tuple[Any, Any]:
    """A shadow candidate bundle's predictor (loaded once per worker process, verified) set to its version's
    active profile, and that profile."""
    return _with_active_profile(_load(path, warm=False))
