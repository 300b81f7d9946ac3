"""The one error a backup or restore raises: what went wrong, in words an operator can act on."""

from __future__ import annotations


class BackupError(Exception):
    """A backup or restore that cannot proceed (missing tool, non-empty target, checksum mismatch)."""
