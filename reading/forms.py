"""The review form; it validates input only, the review service does the work."""

from __future__ import annotations

from typing import Any

from django import forms

from portal.forms import AccessibleForm
from reading.models import NON_DIAGNOSTIC_REASONS, ReadLabel, Review
from reading.services.reviews import override_reasons, review_reasons


class ReviewForm(AccessibleForm):
    decision = forms.ChoiceField(choices=Review.Decision.choices, widget=forms.RadioSelect)
    final_label = forms.ChoiceField(
        choices=[("", "—"), *ReadLabel.choices], required=False, label="Final label (override)"
    )
    reason = forms.ChoiceField(
        choices=[("", "—"), *Review.Reason.choices], required=False, label="Reason (override)"
    )
    note = forms.CharField(max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    amendment_reason = forms.CharField(
        max_length=1000, required=False, label="Reason for amending (required to amend a signed read)"
    )
    # Set by the summary page's "Confirm and sign": an indeterminate study is never signed without it.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, ai_label: str = "", amending: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ai_label = ai_label
        # The site's configured list (AIRSPACE_REVIEW_REASONS), in its order and wording, plus the
        # non-diagnostic reasons a non-diagnostic read always accepts.
        reasons = dict(review_reasons())
        for code in NON_DIAGNOSTIC_REASONS:
            reasons.setdefault(code, Review.Reason(code).label)
        self.fields["reason"].choices = [("", "—"), *reasons.items()]
        # Which final labels each reason goes with (the page offers only those for the chosen label).
        self.reason_labels = {
            code: [label for label in ReadLabel.values if code in override_reasons(label)] for code in reasons
        }
        if amending:
            self.fields["amendment_reason"].required = True
            self.fields["amendment_reason"].widget.attrs["required"] = True

    def final_label_options(self) -> list[dict[str, Any]]:
        """The override's final labels; the AI's own label is shown but cannot be chosen."""
        return [
            {"value": value, "label": label, "is_ai": value == self.ai_label}
            for value, label in ReadLabel.choices
        ]

    def reason_options(self) -> list[dict[str, Any]]:
        """Each reason with the final labels it applies to (space-separated, for the page's script)."""
        return [
            {"value": value, "label": label, "labels": " ".join(self.reason_labels.get(value, []))}
            for value, label in self.fields["reason"].choices
            if value
        ]

    def clean(self) -> dict[str, Any]:
        """An override names a final label other than the AI's and a reason (the service checks again)."""
        data = super().clean()
        if data.get("decision") == Review.Decision.OVERRIDE:
            if not data.get("final_label"):
                self.add_error("final_label", "An override needs the final label.")
            elif self.ai_label and data.get("final_label") == self.ai_label:
                self.add_error("final_label", "That is the AI's label: choose Agree to keep it.")
            if not data.get("reason"):
                self.add_error("reason", "An override needs a reason.")
        return data
