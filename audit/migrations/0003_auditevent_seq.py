"""AuditEvent.seq: each event's place in the chain, so audit_verify can report missing events (#17.6).

Existing events keep seq NULL (their digests did not cover it); the first new event continues the count.
Adding a nullable column rewrites no row, so the append-only row trigger is not involved.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]
    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(blank=True, editable=False, null=True, unique=True),
        )
    ]
