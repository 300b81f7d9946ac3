"""Review, AuditEvent and AuditAnchor now belong to reading and audit: forget them here, state only."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('diagnosis', '0008_audit_no_truncate'),
        ('audit', '0001_initial'),
        ('reading', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='auditanchor',
                    name='event',
                ),
                migrations.RemoveField(
                    model_name='auditevent',
                    name='actor',
                ),
                migrations.RemoveConstraint(
                    model_name='review',
                    name='review_version_unique',
                ),
                migrations.RemoveConstraint(
                    model_name='review',
                    name='review_one_current_per_study',
                ),
                migrations.RemoveConstraint(
                    model_name='review',
                    name='review_override_needs_reason',
                ),
                migrations.RemoveConstraint(
                    model_name='review',
                    name='review_label_valid',
                ),
                migrations.RemoveConstraint(
                    model_name='review',
                    name='review_non_diagnostic_reason',
                ),
                migrations.RemoveConstraint(
                    model_name='review',
                    name='review_override_differs_from_ai',
                ),
                migrations.RemoveConstraint(
                    model_name='review',
                    name='review_amendment_needs_reason',
                ),
                migrations.DeleteModel(
                    name='AuditAnchor',
                ),
                migrations.DeleteModel(
                    name='AuditEvent',
                ),
                migrations.DeleteModel(
                    name='Review',
                ),
            ],
            database_operations=[],
        ),
    ]
