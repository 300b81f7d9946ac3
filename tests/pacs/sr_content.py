"""Reading an SR back the way a PACS viewer would: walk the content tree by concept name (tests and bench)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset


def content_items(ds: Dataset) -> Iterator[Dataset]:
    """Every content item of the tree, depth first."""
    for item in ds.get("ContentSequence", []):
        yield item
        yield from content_items(item)


def _name(item: Dataset) -> tuple[str, str]:
    code = item.ConceptNameCodeSequence[0]
    return str(code.CodingSchemeDesignator), str(code.CodeValue)


def values(ds: Dataset) -> dict[tuple[str, str], list[Any]]:
    """(scheme, code value) of each concept name → its values: numbers, codes as (scheme, value), text,
    names, UIDs, images as (SOP class, SOP instance)."""
    found: dict[tuple[str, str], list[Any]] = {}
    for item in content_items(ds):
        kind = item.ValueType
        if kind == "NUM":
            value: Any = float(item.MeasuredValueSequence[0].NumericValue)
        elif kind == "CODE":
            code = item.ConceptCodeSequence[0]
            value = (str(code.CodingSchemeDesignator), str(code.CodeValue))
        elif kind == "TEXT":
            value = str(item.TextValue)
        elif kind == "PNAME":
            value = str(item.PersonName)
        elif kind == "UIDREF":
            value = str(item.UID)
        elif kind == "IMAGE":
            ref = item.ReferencedSOPSequence[0]
            value = (str(ref.ReferencedSOPClassUID), str(ref.ReferencedSOPInstanceUID))
        else:
            continue
        found.setdefault(_name(item), []).append(value)
    return found


def ai_probability(ds: Dataset) -> float:
    """The calibrated probability the AI SR reports."""
    return values(ds)[("99AIRSPACE", "probability")][0]
