"""AuditEvent and AuditAnchor move here from diagnosis: state only, the tables (and their rows) stay put."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('diagnosis', '0008_audit_no_truncate'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('created_at', models.DateTimeField(db_index=True)),
                        ('actor_username', models.CharField(blank=True, max_length=150)),
                        ('action', models.CharField(db_index=True, max_length=64)),
                        ('object_type', models.CharField(blank=True, max_length=64)),
                        ('object_id', models.CharField(blank=True, db_index=True, max_length=64)),
                        ('before', models.JSONField(blank=True, null=True)),
                        ('after', models.JSONField(blank=True, null=True)),
                        ('reason', models.TextField(blank=True)),
                        ('ip', models.GenericIPAddressField(blank=True, null=True)),
                        ('user_agent', models.CharField(blank=True, max_length=512)),
                        ('prev_hash', models.CharField(max_length=64)),
                        ('hash', models.CharField(max_length=64, unique=True)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'diagnosis_auditevent',
                        'ordering': ['-id'],
                    },
                ),
                migrations.CreateModel(
                    name='AuditAnchor',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('head_hash', models.CharField(max_length=64)),
                        ('signature', models.CharField(max_length=64)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('event', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='audit.auditevent')),
                    ],
                    options={
                        'db_table': 'diagnosis_auditanchor',
                        'ordering': ['-id'],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
