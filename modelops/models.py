"""Model lifecycle at a site: operating profiles, shadow runs of a candidate, drift alerts.

Rows here are never edited in place: a profile is superseded by a new one, and only its `active` flag moves.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class OperatingProfile(models.Model):
    """How one model version turns its logit into a label at this site: p = sigmoid(logit / T + bias),
    PNEUMONIA at p >= threshold, indeterminate inside [low, high]. Exactly one is active per version."""

    class Source(models.TextChoices):
        BUNDLE = "bundle", "The bundle's own calibration"
        REVIEWS = "reviews", "Fitted on this site's signed reads"
        DATA = "data", "Fitted on a labelled folder"

    model_version = models.CharField(max_length=64, db_index=True)
    temperature = models.FloatField()
    bias = models.FloatField(default=0.0)
    threshold = models.FloatField()
    indeterminate_low = models.FloatField()
    indeterminate_high = models.FloatField()
    target_sensitivity = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    # What justified it: the fit's sample, cross-validated before/after figures with CIs, the command.
    metrics = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version"], condition=Q(active=True), name="profile_one_active_per_version"
            ),
            models.CheckConstraint(condition=Q(temperature__gt=0), name="profile_temperature_positive"),
            models.CheckConstraint(
                condition=Q(indeterminate_low__gte=0)
                & Q(indeterminate_low__lte=F("threshold"))
                & Q(threshold__lte=F("indeterminate_high"))
                & Q(indeterminate_high__lte=1),
                name="profile_band_around_threshold",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} profile #{self.pk} ({self.source})"

    @property
    def band(self) -> tuple[float, float]:
        """The indeterminate band as (low, high)."""
        return (self.indeterminate_low, self.indeterminate_high)
