"""HTML forms; they validate input only, services do the work."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from diagnosis.models import (
    MRN_MESSAGE,
    MRN_PATTERN,
    NON_DIAGNOSTIC_REASONS,
    Patient,
    ReadLabel,
    Review,
    Study,
)


class AccessibleForm(forms.Form):
    """Marks invalid widgets (aria-invalid) and points them at their error text (aria-describedby)."""

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                described = attrs.get("aria-describedby", "")
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{described} id_{name}-error".strip()


def _not_in_future(value: dt.date | None, what: str) -> dt.date | None:
    if value and value > dt.date.today():
        raise forms.ValidationError(f"The {what} cannot be in the future.")
    return value


class StudyUploadForm(AccessibleForm):
    image = forms.FileField(label="Chest X-ray (JPEG, PNG or DICOM)")
    patient_mrn = forms.RegexField(
        regex=MRN_PATTERN,
        max_length=64,
        label="Patient MRN",
        error_messages={
            "invalid": MRN_MESSAGE,
            "required": "Enter the patient's MRN.",
        },
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "aria-describedby": "id_patient_mrn-hint",
                "data-pattern": MRN_PATTERN,
            }
        ),
    )
    patient_name = forms.CharField(max_length=200, required=False, label="Patient name")
    patient_birth_date = forms.DateField(
        required=False, label="Birth date", widget=forms.DateInput(attrs={"type": "date"})
    )
    patient_sex = forms.ChoiceField(choices=[("", "—"), *Patient.Sex.choices], required=False, label="Sex")
    accession_number = forms.CharField(max_length=64, required=False, label="Accession number")
    study_date = forms.DateField(
        required=False, label="Study date", widget=forms.DateInput(attrs={"type": "date"})
    )
    clinical_notes = forms.CharField(
        max_length=4000, required=False, label="Clinical notes", widget=forms.Textarea(attrs={"rows": 3})
    )
    priority = forms.ChoiceField(choices=Study.Priority.choices, initial=Study.Priority.ROUTINE)
    # Ticked after a patient_conflict: file under the patient on file although the entered details differ.
    confirm_patient = forms.BooleanField(required=False)

    def clean_patient_birth_date(self) -> dt.date | None:
        """A birth date in the future is a typing error."""
        return _not_in_future(self.cleaned_data.get("patient_birth_date"), "birth date")

    def clean_study_date(self) -> dt.date | None:
        """A study date in the future is a typing error."""
        return _not_in_future(self.cleaned_data.get("study_date"), "study date")


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
        from diagnosis.services.reviews import override_reasons, review_reasons

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
