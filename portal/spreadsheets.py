"""CSV for spreadsheets: a text cell that a spreadsheet would run as a formula is written inert.

OWASP "CSV Injection": a cell starting with = + - @ tab or carriage return is evaluated by Excel,
LibreOffice and Sheets (`=HYPERLINK(...)` exfiltrates, `=cmd|...` runs DDE). Such a cell gets a leading
single quote, which spreadsheets show as text and drop; the rest of the text is kept as sent.
Every CSV the portal writes goes through `SafeWriter` or `SafeDictWriter`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value, with a quote prefixed when it is text a spreadsheet would evaluate (numbers untouched)."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer whose rows are defused cell by cell."""

    def __init__(self, handle: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(handle, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(_text(value)) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class SafeDictWriter(csv.DictWriter):
    """csv.DictWriter whose values are defused cell by cell."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({key: safe_cell(_text(value)) for key, value in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for rowdict in rowdicts:
            self.writerow(rowdict)


def _text(value: Any) -> Any:
    # Non-numeric objects (dicts, dates) become text first, so their rendering is checked too.
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
