"""PS3.15 Annex E Basic Application Level Confidentiality Profile, applied to a whole DICOM file.

The attribute table (tag → action code D/Z/X/U and the choices X/Z, X/D, Z/D, X/Z/D, X/Z/U*) is not kept
by hand here: it is the 2026c transcription of Table E.1-1 shipped by `dicom-anonymizer` (pinned in
pyproject). This module only applies it, recursively, with our choices for the parts the table leaves open:

1. Choices (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) take the most protective action, X (or Z for Z/D), because we do
   not hold per-IOD attribute types; dates and times under Z/D get a dummy value so Type 1 Content
   Date/Time stays present.
2. U: every UID is replaced by ``2.25.<HMAC-SHA256(salt, uid)>``, so the same source UID always maps to the
   same new UID (study/series grouping survives) and nobody without the salt can map it back.
3. Every nested sequence item is cleaned with the same table; private attributes are removed unless their
   (private creator, element byte) is safe-listed; curves and overlay data/comments go (masked rows).
4. The 128-byte preamble is zeroed, file meta identifiers (source AE titles, private information) dropped.
5. Patient Age is kept (Retain Patient Characteristics Option, DCM 113108: the model's intended-use flag
   needs it); PatientIdentityRemoved, DeidentificationMethod(CodeSequence) and Longitudinal Temporal
   Information Modified are set to say exactly what was done.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as _standard
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

from mlcore.dicom import read_dataset

TABLE_EDITION = "DICOM PS3.15 2026c Table E.1-1 (via dicom-anonymizer 2.1.0)"
# The table's category lists, by the action code the standard prints.
_CATEGORIES = {
    "D": "D_TAGS",
    "Z": "Z_TAGS",
    "X": "X_TAGS",
    "U": "U_TAGS",
    "Z/D": "Z_D_TAGS",
    "X/Z": "X_Z_TAGS",
    "X/D": "X_D_TAGS",
    "X/Z/D": "X_Z_D_TAGS",
    "X/Z/U*": "X_Z_U_STAR_TAGS",
}
PATIENT_AGE = Tag(0x0010, 0x1010)
# File meta attributes that name the sending system or carry private data (all Type 3).
_FILE_META_REMOVED = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)
_DUMMY_TEXT = "ANONYMIZED"
_DUMMIES: dict[str, Any] = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
    "UR": "http://anonymized.invalid",
    "OB": b"\x00\x00",
    "OW": b"\x00\x00",
    "UN": b"\x00\x00",
}
_NUMERIC = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"}


def _load_table() -> tuple[dict[int, str], list[tuple[int, int, int, int, str]]]:
    """Standard action by tag, plus the masked rows (curves 50xx, overlays 60xx)."""
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for code, name in _CATEGORIES.items():
        for row in getattr(_standard, name):
            if len(row) == 4:
                masked.append((*row, code))
            else:
                exact[int(Tag(*row))] = code
    return exact, masked


STANDARD_ACTIONS, MASKED_ACTIONS = _load_table()


def standard_action(tag: BaseTag) -> str | None:
    """The action code Table E.1-1 gives this tag (None: not in the table, kept)."""
    if int(tag) in STANDARD_ACTIONS:
        return STANDARD_ACTIONS[int(tag)]
    for group, element, group_mask, element_mask, code in MASKED_ACTIONS:
        if (
            tag.group & group_mask == group & group_mask
            and tag.element & element_mask == element & element_mask
        ):
            return code
    return None


def remapped_uid(uid: str, salt: bytes) -> str:
    """A UID derived from the source UID with a secret salt: consistent, not reversible (2.25 = UUID arc)."""
    digest = hmac.new(salt, uid.strip().rstrip("\x00").encode(), hashlib.sha256).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


@dataclass(frozen=True)
class Deidentified:
    """The cleaned file and the original identifiers (for keyed hashes; never stored in clear)."""

    data: bytes
    identifiers: dict[str, str]


_ORIGINAL_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyInstanceUID")


def deidentify(
    data: bytes, *, uid_salt: bytes, safe_private: frozenset[tuple[str, int]] = frozenset()
) -> Deidentified:
    """Apply the basic profile to DICOM bytes; ``safe_private`` holds (creator, element byte) pairs to keep."""
    if not uid_salt:
        raise ValueError("uid_salt must be a non-empty secret: UIDs derived without it are reversible")
    ds = read_dataset(data)
    original = {key: str(ds.get(key, "") or "") for key in _ORIGINAL_KEYS}
    cleaner = _Cleaner(uid_salt=uid_salt, safe_private=safe_private)
    cleaner.clean(ds)
    _clean_file_meta(ds, cleaner)
    _record_method(ds, kept_private=cleaner.kept_private)
    ds.preamble = b"\x00" * 128  # Part 10 leaves the preamble free-form: it can carry anything
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return Deidentified(data=out.getvalue(), identifiers=original)


class _Cleaner:
    """Walks a dataset and its sequences applying the table; remembers whether private data was kept."""

    def __init__(self, *, uid_salt: bytes, safe_private: frozenset[tuple[str, int]]) -> None:
        self.uid_salt = uid_salt
        self.safe_private = safe_private
        self.kept_private = False
        self._actions: dict[str, Callable[[Dataset, DataElement], None]] = {
            "X": self._remove,
            "Z": self._empty,
            "D": self._dummy,
            "U": self._uid,
            "X/Z": self._remove,
            "X/D": self._remove,
            "X/Z/D": self._remove,
            "X/Z/U*": self._remove,
            "Z/D": self._empty_or_dummy_date,
        }

    def clean(self, ds: Dataset) -> None:
        """Clean one dataset (a file or a sequence item) in place."""
        self._clean_private(ds)
        for tag in list(ds.keys()):
            if tag.is_private or tag == PATIENT_AGE:
                continue
            element = ds[tag]  # converts a raw element, so values and VRs are real
            code = standard_action(tag)
            if code is not None:
                self._actions[code](ds, element)
            elif element.VR == "SQ":
                self._items(element)

    def _items(self, element: DataElement) -> None:
        for item in element.value or ():
            self.clean(item)

    def _clean_private(self, ds: Dataset) -> None:
        """Remove private attributes whose (creator, element byte) is not safe-listed, and unused creators."""
        keep_creators: set[int] = set()
        private = [tag for tag in sorted(ds.keys()) if tag.is_private]
        for tag in private:
            if tag.element < 0x1000:
                continue  # a private creator (or group length): decided below
            creator_tag = Tag(tag.group, tag.element >> 8)
            creator = str(ds[creator_tag].value).strip() if creator_tag in ds else ""
            if (creator, tag.element & 0xFF) in self.safe_private:
                keep_creators.add(int(creator_tag))
                self.kept_private = True
                if ds[tag].VR == "SQ":
                    self._items(ds[tag])
            else:
                del ds[tag]
        for tag in private:
            if tag.element < 0x1000 and int(tag) not in keep_creators:
                del ds[tag]

    def _remove(self, ds: Dataset, element: DataElement) -> None:
        del ds[element.tag]

    def _empty(self, ds: Dataset, element: DataElement) -> None:
        element.value = (
            Sequence() if element.VR == "SQ" else None if element.VR in _NUMERIC else _empty(element)
        )

    def _empty_or_dummy_date(self, ds: Dataset, element: DataElement) -> None:
        (self._dummy if element.VR in ("DA", "TM", "DT") else self._empty)(ds, element)

    def _dummy(self, ds: Dataset, element: DataElement) -> None:
        """D: a non-empty value of the right VR that says nothing (sequence items cleaned by the table)."""
        if element.VR == "SQ":
            self._items(element)
        elif element.VR == "UI":
            self._uid(ds, element)
        elif element.VR in _NUMERIC:
            element.value = 0
        else:
            element.value = _DUMMIES.get(element.VR, _DUMMY_TEXT)

    def _uid(self, ds: Dataset, element: DataElement) -> None:
        if element.VR != "UI":
            self._empty(ds, element)
        elif element.VM > 1:
            element.value = [remapped_uid(str(uid), self.uid_salt) for uid in element.value]
        elif element.value:
            element.value = remapped_uid(str(element.value), self.uid_salt)


def _empty(element: DataElement) -> Any:
    return b"" if element.VR in ("OB", "OW", "UN", "OF", "OD", "OL", "OV") else ""


def _clean_file_meta(ds: Dataset, cleaner: _Cleaner) -> None:
    """File meta: the instance UID follows the dataset's; sending-system names and private info go."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    for tag in _FILE_META_REMOVED:
        if tag in meta:
            del meta[tag]
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    elif "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = remapped_uid(str(meta.MediaStorageSOPInstanceUID), cleaner.uid_salt)


def _code(value: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "DCM", meaning
    return code


def _record_method(ds: Dataset, *, kept_private: bool) -> None:
    """Say truthfully what was done: the profile, the options actually used, and that dates were removed."""
    codes = [_code("113100", "Basic Application Confidentiality Profile")]
    method = "PS3.15 basic profile"
    if PATIENT_AGE in ds:
        codes.append(_code("113108", "Retain Patient Characteristics Option"))
        method += ", patient age retained"
    if kept_private:
        codes.append(_code("113111", "Retain Safe Private Option"))
        method += ", safe private attributes retained"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = [f"{method} (Airspace)"[:64], TABLE_EDITION[:64]]
    ds.DeidentificationMethodCodeSequence = codes
    ds.LongitudinalTemporalInformationModified = "REMOVED"
