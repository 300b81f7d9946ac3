"""`manage.py db_roles --app-role airspace_app`: the portal's own PostgreSQL role, owning nothing."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services.db_roles import db_roles_apply


class Command(BaseCommand):
    help = (
        "Create or fix the role the portal runs as, idempotently: login only, no ownership, SELECT/INSERT/"
        "UPDATE/DELETE on the portal's tables but only SELECT and INSERT on the audit tables, sequence "
        "USAGE. Run it as the database owner after every `migrate` (compose's `migrate` service does)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app-role", default="airspace_app", help="the role name (default airspace_app)")
        parser.add_argument(
            "--password-env",
            default="",
            help="name of an environment variable holding the role's password (never on the command line)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Apply the role and grants, then say what was done."""
        password = None
        if options["password_env"]:
            password = os.environ.get(options["password_env"], "")
            if not password:
                raise CommandError(f"{options['password_env']} is empty: set the app role's password there.")
        try:
            grants = db_roles_apply(app_role=options["app_role"], password=password)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Role {grants.role} {'created' if grants.created else 'updated'}: no ownership; "
            f"SELECT and INSERT only on {', '.join(grants.audit_tables)}; grants re-applied to every table."
        )
