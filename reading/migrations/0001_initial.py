"""Review moves here from diagnosis: state only, the table diagnosis_review (and its rows) stays put."""

import django.db.models.deletion
import uuid
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
                    name='Review',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('version', models.PositiveIntegerField(default=1)),
                        ('is_current', models.BooleanField(default=True)),
                        ('decision', models.CharField(choices=[('agree', 'Agree with AI'), ('override', 'Override AI')], max_length=10)),
                        ('final_label', models.CharField(choices=[('NORMAL', 'Normal'), ('PNEUMONIA', 'Pneumonia'), ('NON_DIAGNOSTIC', 'Non-diagnostic')], max_length=16)),
                        ('ai_label', models.CharField(blank=True, choices=[('NORMAL', 'Normal'), ('PNEUMONIA', 'Pneumonia')], max_length=10)),
                        ('reason', models.CharField(blank=True, choices=[('image_quality', 'Poor image quality'), ('missed_finding', 'Model missed finding'), ('false_alarm', 'Model false alarm'), ('wrong_input', 'Not a chest X-ray / wrong input'), ('other', 'Other')], max_length=20)),
                        ('note', models.TextField(blank=True, max_length=4000)),
                        ('amendment_reason', models.TextField(blank=True, max_length=1000)),
                        ('signed_at', models.DateTimeField(auto_now_add=True)),
                        ('prediction', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reviews', to='diagnosis.prediction')),
                        ('previous', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='amended_by', to='reading.review')),
                        ('reviewer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('study', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reviews', to='diagnosis.study')),
                    ],
                    options={
                        'db_table': 'diagnosis_review',
                        'ordering': ['-version'],
                        'constraints': [models.UniqueConstraint(fields=('study', 'version'), name='review_version_unique'), models.UniqueConstraint(condition=models.Q(('is_current', True)), fields=('study',), name='review_one_current_per_study'), models.CheckConstraint(condition=models.Q(('decision', 'agree'), models.Q(('reason', ''), _negated=True), _connector='OR'), name='review_override_needs_reason'), models.CheckConstraint(condition=models.Q(('final_label__in', ['NORMAL', 'PNEUMONIA', 'NON_DIAGNOSTIC'])), name='review_label_valid'), models.CheckConstraint(condition=models.Q(models.Q(('final_label', 'NON_DIAGNOSTIC'), _negated=True), ('reason__in', ('wrong_input', 'image_quality', 'other')), _connector='OR'), name='review_non_diagnostic_reason'), models.CheckConstraint(condition=models.Q(('ai_label', ''), models.Q(('decision', 'agree'), ('final_label', models.F('ai_label'))), models.Q(('decision', 'override'), models.Q(('final_label', models.F('ai_label')), _negated=True)), _connector='OR'), name='review_override_differs_from_ai'), models.CheckConstraint(condition=models.Q(('previous__isnull', True), models.Q(('amendment_reason', ''), _negated=True), _connector='OR'), name='review_amendment_needs_reason')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
