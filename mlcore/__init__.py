"""Airspace ML core: data, preprocessing, model, training, evaluation and inference.

This package never imports Django. Inputs are bytes, arrays or paths; outputs are frozen dataclasses.
"""

from __future__ import annotations

from mlcore.errors import BundleError, InvalidImage, RejectedImage

__all__ = ["BundleError", "InvalidImage", "RejectedImage"]
