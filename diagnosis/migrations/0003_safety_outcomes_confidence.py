"""Issue #16: non-diagnostic reads, overrides that must differ from the AI, amendment reasons, and
confidence as the probability of the label shown (not max(p, 1 - p), which the old >= 0.5 range assumed).

Existing rows are brought in line before the constraints are added:
- prediction.confidence is a derived number; it is recomputed under the corrected definition (labels and
  probabilities are untouched);
- review.ai_label is copied from the reviewed prediction, except on legacy "overrides" that kept the AI
  label, which stay blank (unknown) rather than fail the migration or rewrite a signed read;
- legacy amendments get a placeholder amendment_reason saying it was not recorded.
"""

import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models


LEGACY_AMENDMENT = "(not recorded: amended before amendment reasons were required)"


def backfill(apps, schema_editor):
    """Make existing rows satisfy the new constraints without changing any clinical value."""
    Prediction = apps.get_model("diagnosis", "Prediction")
    Review = apps.get_model("diagnosis", "Review")
    for prediction in Prediction.objects.only("id", "label", "probability", "confidence").iterator():
        value = prediction.probability if prediction.label == "PNEUMONIA" else 1.0 - prediction.probability
        if value != prediction.confidence:
            Prediction.objects.filter(id=prediction.id).update(confidence=value)
    for review in Review.objects.select_related("prediction").iterator():
        ai_label = review.prediction.label
        kept_label = review.decision == "override" and review.final_label == ai_label
        changes = {"ai_label": "" if kept_label else ai_label}
        if review.previous_id is not None and not review.amendment_reason:
            changes["amendment_reason"] = LEGACY_AMENDMENT
        Review.objects.filter(id=review.id).update(**changes)


class Migration(migrations.Migration):

    dependencies = [
        ('diagnosis', '0002_audit_append_only'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='prediction',
            name='prediction_confidence_range',
        ),
        migrations.RemoveConstraint(
            model_name='review',
            name='review_label_valid',
        ),
        migrations.AddField(
            model_name='review',
            name='ai_label',
            field=models.CharField(blank=True, choices=[('NORMAL', 'Normal'), ('PNEUMONIA', 'Pneumonia')], max_length=10),
        ),
        migrations.AddField(
            model_name='review',
            name='amendment_reason',
            field=models.TextField(blank=True, max_length=1000),
        ),
        migrations.AlterField(
            model_name='review',
            name='final_label',
            field=models.CharField(choices=[('NORMAL', 'Normal'), ('PNEUMONIA', 'Pneumonia'), ('NON_DIAGNOSTIC', 'Non-diagnostic')], max_length=16),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='prediction',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('label', 'PNEUMONIA'), ('confidence', models.F('probability'))), models.Q(('label', 'NORMAL'), ('confidence__gte', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.Value(1), '-', models.F('probability')), '-', models.Value(1e-09))), ('confidence__lte', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.Value(1), '-', models.F('probability')), '+', models.Value(1e-09)))), _connector='OR'), name='prediction_confidence_is_label_probability'),
        ),
        migrations.AddConstraint(
            model_name='prediction',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('label', 'PNEUMONIA'), ('probability__gte', models.F('threshold'))), models.Q(('label', 'NORMAL'), ('probability__lt', models.F('threshold'))), _connector='OR'), name='prediction_label_at_threshold'),
        ),
        migrations.AddConstraint(
            model_name='review',
            constraint=models.CheckConstraint(condition=models.Q(('final_label__in', ['NORMAL', 'PNEUMONIA', 'NON_DIAGNOSTIC'])), name='review_label_valid'),
        ),
        migrations.AddConstraint(
            model_name='review',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('final_label', 'NON_DIAGNOSTIC'), _negated=True), ('reason__in', ('wrong_input', 'image_quality', 'other')), _connector='OR'), name='review_non_diagnostic_reason'),
        ),
        migrations.AddConstraint(
            model_name='review',
            constraint=models.CheckConstraint(condition=models.Q(('ai_label', ''), models.Q(('decision', 'agree'), ('final_label', models.F('ai_label'))), models.Q(('decision', 'override'), models.Q(('final_label', models.F('ai_label')), _negated=True)), _connector='OR'), name='review_override_differs_from_ai'),
        ),
        migrations.AddConstraint(
            model_name='review',
            constraint=models.CheckConstraint(condition=models.Q(('previous__isnull', True), models.Q(('amendment_reason', ''), _negated=True), _connector='OR'), name='review_amendment_needs_reason'),
        ),
    ]
