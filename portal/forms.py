"""Form behaviour shared by every page (accessible error marking), and the user-management form."""

from __future__ import annotations

from typing import Any

from django import forms

from diagnosis.models import Department
from portal.roles import Role


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


class UserForm(AccessibleForm):
    """An account as an admin sets it up; the username only when creating (then it is fixed)."""

    username = forms.RegexField(
        regex=r"^[\w.@+-]{1,150}$",
        max_length=150,
        help_text="Letters, digits and @ . + - _ only.",
        error_messages={"invalid": "Use letters, digits and @ . + - _ only."},
    )
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False, help_text="Needed for the password link and notifications.")
    roles = forms.MultipleChoiceField(choices=[], widget=forms.CheckboxSelectMultiple)
    department = forms.ModelChoiceField(queryset=None, required=False, empty_label="— none —")

    def __init__(self, *args: Any, creating: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = Role.choices
        self.fields["department"].queryset = Department.objects.order_by("name")
        if not creating:
            del self.fields["username"]
