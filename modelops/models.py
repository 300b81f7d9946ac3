"""Model lifecycle at a site: operating profiles, shadow runs of a candidate, drift alerts.

Rows here are never edited in place: a profile is superseded by a new one, and only its `active` flag moves.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


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


class ShadowRun(models.Model):
    """A candidate (another bundle, or another profile of the served version) scoring every new study beside
    the served model. Its results are stored apart and never shown to readers or sent out."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PROMOTED = "promoted", "Promoted"
        ROLLED_BACK = "rolled_back", "Rolled back"
        STOPPED = "stopped", "Stopped"

    served_version = models.CharField(max_length=64)
    candidate_bundle = models.CharField(max_length=64, blank=True)
    candidate_profile = models.ForeignKey(
        OperatingProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The served profile when the shadow began: what a rollback after promotion returns to.
    baseline_profile = models.ForeignKey(OperatingProfile, on_delete=models.PROTECT, related_name="+")
    # The served-bundle row when the shadow began (null: the deployment default), for a bundle rollback.
    baseline_bundle = models.ForeignKey(
        "ServedBundle", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="running"), name="shadow_one_running"
            ),
            models.CheckConstraint(
                condition=(Q(candidate_bundle="") & Q(candidate_profile__isnull=False))
                | (~Q(candidate_bundle="") & Q(candidate_profile__isnull=True)),
                name="shadow_one_kind_of_candidate",
            ),
        ]

    def __str__(self) -> str:
        return f"shadow #{self.pk}: {self.candidate_name} beside {self.served_version}"

    @property
    def candidate_name(self) -> str:
        """What the candidate is, in words."""
        if self.candidate_bundle:
            return f"bundle {self.candidate_bundle}"
        return f"profile #{self.candidate_profile_id}"


class ShadowPrediction(models.Model):
    """The candidate's result on one study, beside the served prediction it shadows. Never shown to
    clinicians or radiologists, never sent to a PACS or the EHR."""

    shadow = models.ForeignKey(ShadowRun, on_delete=models.PROTECT, related_name="predictions")
    prediction = models.ForeignKey("diagnosis.Prediction", on_delete=models.PROTECT, related_name="+")
    study = models.ForeignKey("diagnosis.Study", on_delete=models.PROTECT, related_name="+")
    model_version = models.CharField(max_length=64)
    profile = models.ForeignKey(OperatingProfile, on_delete=models.PROTECT, related_name="+")
    # Null when the candidate's input gate refused the image the served model analysed.
    probability = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=10, blank=True)
    indeterminate = models.BooleanField(default=False)
    logit = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["shadow", "prediction"], name="shadow_once_per_prediction"),
        ]

    def __str__(self) -> str:
        return f"shadow #{self.shadow_id} on prediction {self.prediction_id}: {self.label or 'refused'}"


class DriftAlert(models.Model):
    """An admin alert: live accuracy against reads fell below the active profile's expected interval, or
    the distribution of its outputs drifted past the threshold. One open alert per profile and kind."""

    class Kind(models.TextChoices):
        SENSITIVITY = "sensitivity", "Live sensitivity below the expected interval"
        SPECIFICITY = "specificity", "Live specificity below the expected interval"
        INPUT_DRIFT = "input_drift", "Input distribution drift"
        IMAGE_DRIFT = "image_drift", "Input image statistics drift"

    profile = models.ForeignKey(OperatingProfile, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    observed = models.JSONField(default=dict)
    raised_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "kind"],
                condition=Q(acknowledged_at__isnull=True),
                name="drift_one_open_alert",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (profile #{self.profile_id})"


class ServedBundle(models.Model):
    """Which bundle folder the portal serves, as data: a promotion activates a row, a rollback re-activates
    the one before (or none). With no active row the deployment default serves ($AIRSPACE_MODEL_BUNDLE, else
    models/CURRENT). Rows are never edited; only `active` moves."""

    bundle = models.CharField(max_length=128)  # a folder under AIRSPACE_MODELS_DIR
    model_version = models.CharField(max_length=64)
    active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="served_bundle_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"served bundle {self.bundle} ({self.model_version})"


class CalibrationRun(models.Model):
    """An admin's "Calibrate from reads" request, fitted by a worker (the bootstrap takes seconds): pending,
    running, then done with the proposed (inactive) profile, or failed saying why."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Fitting"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    model_version = models.CharField(max_length=64)
    since = models.DateField(null=True, blank=True)
    target_sensitivity = models.FloatField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    profile = models.ForeignKey(
        OperatingProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # When its task was last sent (the request, or the sweep re-sending a lost one) and when a worker
    # claimed it: the sweep (services.calibration_runs) measures a lost message and a dead worker from these.
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["status"],
                condition=Q(status__in=["pending", "running"]),
                name="calibration_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return f"calibration #{self.pk} ({self.status})"
