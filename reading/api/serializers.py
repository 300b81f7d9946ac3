"""Reading wire formats: a signed review, the review input, and a worklist row."""

from __future__ import annotations

from rest_framework import serializers

from reading.models import ReadLabel, Review


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.get_username", read_only=True)
    previous = serializers.UUIDField(source="previous_id", read_only=True, allow_null=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "version",
            "previous",
            "is_current",
            "reviewer",
            "decision",
            "final_label",
            "ai_label",
            "reason",
            "note",
            "amendment_reason",
            "signed_at",
            "prediction",
        ]


class FinalReadSerializer(serializers.Serializer):
    """The signed read a study leads with: null until a radiologist signs one."""

    label = serializers.ChoiceField(ReadLabel.choices)
    decision = serializers.ChoiceField(Review.Decision.choices)
    reason = serializers.CharField(help_text="Override or non-diagnostic reason code; empty for agreement.")
    reader = serializers.CharField(help_text="The signing radiologist's username.")
    signed_at = serializers.DateTimeField()
    version = serializers.IntegerField(help_text="1 for the first read; amendments count up.")


class ReviewInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(Review.Decision.choices)
    final_label = serializers.ChoiceField(ReadLabel.choices, required=False, allow_blank=True, default="")
    reason = serializers.ChoiceField(Review.Reason.choices, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    amendment_reason = serializers.CharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why a signed read is amended; required when the study already has one.",
    )
