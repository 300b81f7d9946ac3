"""HTML forms; they validate input only, services do the work."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from diagnosis.models import MRN_MESSAGE, MRN_PATTERN, Patient, Study
from portal.forms import AccessibleForm


def _not_in_future(value: dt.date | None, what: str) -> dt.date | None:
    if value and value > dt.date.today():
        raise forms.ValidationError(f"The {what} cannot be in the future.")
    return value


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Zero or more files under one name (<input type=file multiple>), each validated as a FileField."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        """The list of uploaded files (empty when none)."""
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class StudyUploadForm(AccessibleForm):
    image = forms.FileField(label="Chest X-ray (JPEG, PNG or DICOM)")
    images = MultipleFileField(
        required=False, label="Further views of the same study (optional, up to 3; not analysed)"
    )
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
