"""Exceptions raised by mlcore; each carries a stable machine `code` and a human message."""

from __future__ import annotations


class InvalidImage(ValueError):
    """The bytes cannot be decoded into an image we accept (corrupt, wrong type, too large, too small)."""

    def __init__(self, message: str, *, code: str = "invalid_image") -> None:
        super().__init__(message)
        self.code = code


class RejectedImage(ValueError):
    """A decodable image that the input gate refuses: not a frontal chest X-ray.

    `score` is the gate score (1.0 is the rejection boundary; higher is less chest-X-ray-like).
    """

    def __init__(self, message: str, *, code: str = "not_chest_xray", score: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.score = score


class BundleError(RuntimeError):
    """The model bundle is missing, incomplete or fails its sha256 check."""
