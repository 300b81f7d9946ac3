"""Domain errors that views and the API turn into clear 4xx answers."""

from __future__ import annotations


class DomainError(Exception):
    """A refused request: a stable code, a human message and, optionally, the fields at fault."""

    status_code = 400

    def __init__(self, message: str, *, code: str = "invalid", fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.fields = fields or {}


class Conflict(DomainError):
    """The request clashes with the record's current state (e.g. a study claimed by someone else)."""

    status_code = 409


class PayloadTooLarge(DomainError):
    """The upload exceeds the configured size limit."""

    status_code = 413
