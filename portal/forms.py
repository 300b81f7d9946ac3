"""Form behaviour shared by every page: accessible error marking."""

from __future__ import annotations

from django import forms


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
