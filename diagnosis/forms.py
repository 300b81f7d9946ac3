"""HTML forms; they validate input only, services do the work."""

from __future__ import annotations

from django import forms

from diagnosis.models import Label, Patient, Review, Study


class StudyUploadForm(forms.Form):
    image = forms.FileField(label="Chest X-ray (JPEG, PNG or DICOM)")
    patient_mrn = forms.RegexField(
        regex=r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}$",
        max_length=64,
        label="Patient MRN",
        error_messages={"invalid": "Use letters, digits, - _ . only (max 64)."},
    )
    patient_name = forms.CharField(max_length=200, required=False, label="Patient name")
    patient_birth_date = forms.DateField(
        required=False, label="Birth date", widget=forms.DateInput(attrs={"type": "date"})
    )
    patient_sex = forms.ChoiceField(choices=[("", "—"), *Patient.Sex.choices], required=False, label="Sex")
    accession_number = forms.CharField(max_length=64, required=False)
    study_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    clinical_notes = forms.CharField(
        max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    priority = forms.ChoiceField(choices=Study.Priority.choices, initial=Study.Priority.ROUTINE)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=Review.Decision.choices, widget=forms.RadioSelect)
    final_label = forms.ChoiceField(
        choices=[("", "—"), *Label.choices], required=False, label="Final label (override)"
    )
    reason = forms.ChoiceField(
        choices=[("", "—"), *Review.Reason.choices], required=False, label="Reason (override)"
    )
    note = forms.CharField(max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
