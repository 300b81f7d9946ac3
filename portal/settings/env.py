"""Typed reads of environment variables, shared by the settings modules."""

from __future__ import annotations

import os


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes" are true)."""
    raw = os.environ.get(name)
    return default if raw is None else raw.strip().lower() in {"1", "true", "yes", "on"}


def env_float(name: str, default: float) -> float:
    """Read a decimal environment variable."""
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable."""
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)
