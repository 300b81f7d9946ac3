"""Create (idempotently) the demo users clinician, radiologist and admin, one per role."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from portal.roles import Role


class Command(BaseCommand):
    help = "Create or reset the demo users clinician, radiologist and admin (one per role)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", help="Password for all three (generated and printed if omitted).")

    @transaction.atomic
    def handle(self, *args: Any, password: str | None = None, **options: Any) -> None:
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        User = get_user_model()
        for role in Role:
            group, _ = Group.objects.get_or_create(name=role.value)
            user, created = User.objects.get_or_create(username=role.value)
            user.is_staff = user.is_superuser = role == Role.ADMIN
            user.set_password(password)
            user.save()
            user.groups.add(group)
            self.stdout.write(f"{'created' if created else 'updated'} user {user.username} ({role.label})")
        if generated:
            self.stdout.write(f"Demo password for all three users: {password}")
