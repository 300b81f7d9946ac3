"""The fault tests' hold hook exists only in the test settings: production runs no test code."""

from __future__ import annotations

import inspect

from diagnosis.services import predictions
from portal.settings import base


def test_base_settings_define_no_hook() -> None:
    assert base.AIRSPACE_BEFORE_PREDICT_HOOK is None


def test_the_prediction_service_knows_no_test_file() -> None:
    source = inspect.getsource(predictions)
    assert "HOLD_FILE" not in source and "_test_hold" not in source
