"""Django's PostgreSQL backend, whose per-request health check reads the socket before it asks the server.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` on a reused connection at the start of every request and
every Celery task (two round trips per study, ~0.2 ms of CPU each between the client and the server).
An idle connection to a live server has nothing to read: a terminated backend or a restarted server sends
its error and closes the socket, which makes it readable. So a connection whose socket has nothing to
read, in no transaction, is reused without a query; anything else gets Django's `SELECT 1`.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL DatabaseWrapper; only the health check differs."""

    def is_usable(self) -> bool:
        """False for a closed or broken connection; True for an idle one whose socket has nothing to read;
        otherwise what Django's `SELECT 1` says."""
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()
        poller = select.poll()  # poll, not select: no limit on the descriptor's number
        try:
            poller.register(connection.fileno(), select.POLLIN)
            pending = poller.poll(0)  # readable, hung up or in error
        except (OSError, ValueError):  # the descriptor is gone
            return False
        return super().is_usable() if pending else True
