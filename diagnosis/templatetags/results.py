"""How a study's result reads on a page: the radiologist's final read first, the AI's result second.

One place decides the hierarchy, so the study page, the study list and the worklist cannot drift apart:
a signed read leads and the AI result is marked superseded; before a read the AI result is marked
preliminary; an indeterminate AI result is headed as such, never as Normal or Pneumonia.
"""

from __future__ import annotations

from typing import Any

from django import template

from diagnosis.selectors import current_prediction
from mlcore.calibration import label_confidence
from reading.selectors import final_read_for

register = template.Library()

PNEUMONIA = "PNEUMONIA"
PRELIMINARY = "Preliminary — not yet read by a radiologist"
INDETERMINATE = "Indeterminate — needs a closer look"


@register.filter
def confidence_in_label(prediction: Any) -> float:
    """The calibrated probability of the label shown: p for Pneumonia, 1 − p for Normal (the one definition,
    mlcore.calibration.label_confidence, that the stored `confidence` also follows)."""
    return label_confidence(prediction.probability, prediction.label)


@register.filter
def ai_headline(prediction: Any) -> str:
    """The AI result's heading: its label at the operating point, or that it is indeterminate."""
    return INDETERMINATE if prediction.indeterminate else prediction.get_label_display()


@register.filter
def ai_tone(prediction: Any) -> str:
    """CSS modifier for the AI verdict: indeterminate is its own (amber) tone, never green or red."""
    return "indeterminate" if prediction.indeterminate else prediction.label.lower()


@register.filter
def heatmap_explains(prediction: Any, review: Any = None) -> bool:
    """Whether the stored heatmap may be offered: it maps evidence for PNEUMONIA, so only for that label.

    On a Normal result the map would show where the model found evidence against pneumonia, which a
    reader would take for a finding; nor is it offered once a signed read says anything but Pneumonia.
    """
    if not (prediction and prediction.heatmap) or prediction.label != PNEUMONIA:
        return False
    return review is None or review.final_label == PNEUMONIA


@register.inclusion_tag("diagnosis/_result_cell.html")
def result_cell(study: Any) -> dict[str, Any]:
    """A list row's result: the final read when signed, else the preliminary AI result, else the status."""
    return {
        "study": study,
        "read": final_read_for(study),
        "prediction": current_prediction(study),
        "preliminary": PRELIMINARY,
    }


@register.simple_tag
def preliminary_notice() -> str:
    """The words that mark an AI result no radiologist has read yet."""
    return PRELIMINARY


@register.filter
def warning_notice(code: str) -> str:
    """A study's wrong-patient warning code as the sentence a reader needs."""
    from diagnosis.services.patient_checks import warning_notice as notice

    return notice(code)
