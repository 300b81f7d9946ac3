"""The email backend of a production site with no mail server: it sends nothing and says why.

Nothing should reach it (notifications queue no email and reset links are refused while
AIRSPACE_EMAIL_ENABLED is off); should something, the send fails loudly instead of vanishing.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend


class NoMailServerBackend(BaseEmailBackend):
    """Refuses every message: set AIRSPACE_EMAIL_HOST to send email."""

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        if not email_messages:
            return 0
        raise smtplib.SMTPException("this site has no mail server (set AIRSPACE_EMAIL_HOST)")
