"""Create (idempotently) the demo users clinician, radiologist and admin, one per role.

Each gets an address (`<username>@<domain>`, example.org by default) so that `make run`'s console email
backend prints the notification and password-reset emails they are sent; an address an admin has since
changed is kept.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from portal.roles import Role


class Command(BaseCommand):
    help = "Create or reset the demo users clinician, radiologist and admin (one per role)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", help="Password for all three (generated and printed if omitted).")
        parser.add_argument(
            "--email-domain",
            default="example.org",
            help="Domain of the demo users' email addresses (default example.org, reserved for examples).",
        )

    @transaction.atomic
    def handle(
        self, *args: Any, password: str | None = None, email_domain: str = "example.org", **options: Any
    ) -> None:
        try:
            validate_email(f"demo@{email_domain}")
        except ValidationError:
            raise CommandError(f"--email-domain {email_domain!r} is not an email domain") from None
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        User = get_user_model()
        for role in Role:
            group, _ = Group.objects.get_or_create(name=role.value)
            user, created = User.objects.get_or_create(username=role.value)
            user.is_staff = user.is_superuser = role == Role.ADMIN
            user.email = user.email or f"{role.value}@{email_domain}"
            user.set_password(password)
            user.save()
            user.groups.add(group)
            state = "created" if created else "updated"
            self.stdout.write(f"{state} user {user.username} <{user.email}> ({role.label})")
        if generated:
            self.stdout.write(f"Demo password for all three users: {password}")
