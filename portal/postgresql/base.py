"""Django's PostgreSQL backend, whose per-request health check reads the socket before it asks the server,
and which gives a client-binding cursor to the few messages that carry several statements.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` on a reused connection at the start of every request and
every Celery task (two round trips per study, ~0.2 ms of CPU each between the client and the server).
An idle connection to a live server has nothing to read: a terminated backend or a restarted server sends
its error and closes the socket, which makes it readable. So a connection whose socket has nothing to
read, in no transaction, is reused without a query; anything else gets Django's `SELECT 1`.
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL DatabaseWrapper; the health check differs, and `statements_cursor` is added."""

    def statements_cursor(self) -> Any:
        """A cursor that binds parameters on the client, for one message of several statements with
        parameters (the audit chain's writes, a commit without the flush wait).

        The connection's own cursors bind on the server (OPTIONS server_side_binding, so that the hot
        statements run prepared, #17), and the server takes a single statement per parameterised message.
        This one interpolates the values, as Django's default cursor does, and is wrapped like any other.
        """
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = base.Cursor(self.connection)  # Django's own client-binding cursor class
        # What create_cursor does for the connection's own cursors.
        tzloader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, pq.Format.TEXT)
        if self.timezone != tzloader.timezone:
            base.register_tzloader(self.timezone, cursor)
        return self._prepare_cursor(cursor)

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
