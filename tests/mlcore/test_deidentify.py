"""PS3.15 basic profile, attribute by attribute against the standard's Table E.1-1 (as the pinned library
transcribes it), plus the parts outside the table: sequences, private tags, preamble, UIDs, method codes."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from mlcore.decoding import decode_image
from mlcore.deidentify import STANDARD_ACTIONS, deidentify, remapped_uid, standard_action
from tests.fixtures.dicoms import HOSTILE_PREAMBLE, HOSTILE_SECRETS, hostile_dicom, xray_dicom

SALT = b"test-salt-not-a-secret-0123456789"
CATEGORIES = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}
# Expected list derived from the standard's table, not from the code under test.
ROWS = [
    (Tag(*row), code)
    for name, code in CATEGORIES.items()
    for row in getattr(table, name)
    # File meta rows are checked on the file meta; command set rows (group 0000) never occur in a file.
    if len(row) == 2 and row[0] not in (0x0000, 0x0002)
]
RETAINED = {Tag(0x0010, 0x1010)}  # Patient's Age: Retain Patient Characteristics Option (113108)
SENTINEL = "SENTINEL7"
SENTINEL_UID = "1.2.3.4.5.6.7.8.9"


def _vr(tag: Tag) -> str:
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "LO"  # newer than pydicom's dictionary: any string VR will do


def _sentinel(vr: str) -> object:
    if vr == "SQ":
        item = Dataset()
        item.PatientName, item.CodeMeaning = "Doe^Jane", SENTINEL
        return [item]
    return {
        "UI": SENTINEL_UID,
        "DA": "20200102",
        "TM": "101500",
        "DT": "20200102101500",
        "AS": "034Y",
        "DS": "7.5",
        "IS": "7",
        "US": 7,
        "SS": 7,
        "UL": 7,
        "SL": 7,
        "FL": 7.0,
        "FD": 7.0,
        "UR": "http://sentinel7.example",
        "OB": b"SENTINEL7\x00",
        "OW": b"SENTINEL7\x00",
        "UN": b"SENTINEL7\x00",
    }.get(vr, SENTINEL)


def _with_every_table_attribute() -> bytes:
    """The fixture X-ray carrying every attribute of the table, each holding a sentinel value."""
    ds = pydicom.dcmread(io.BytesIO(xray_dicom()))
    for tag, _code in ROWS:
        if tag in ds:
            continue
        vr = _vr(tag)
        ds.add_new(tag, vr, _sentinel(vr))
    ds.add_new(0x50000010, "US", 3)  # curve data (50xx,xxxx)
    ds.add_new(0x60003000, "OW", b"\x01\x02")  # overlay data
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.fixture(scope="module")
def before_after() -> tuple[Dataset, Dataset]:
    original = _with_every_table_attribute()
    cleaned = deidentify(original, uid_salt=SALT).data
    return pydicom.dcmread(io.BytesIO(original)), pydicom.dcmread(io.BytesIO(cleaned))


def _is_empty(element: object) -> bool:
    value = getattr(element, "value", None)
    return value in (None, "", b"") or (isinstance(value, (list, pydicom.Sequence)) and len(value) == 0)


def _holds_sentinel(element: object) -> bool:
    text = str(getattr(element, "value", ""))
    return any(s in text for s in (SENTINEL, "Doe^Jane", "20200102", "101500", "034Y", SENTINEL_UID))


def test_the_table_is_the_standard_size() -> None:
    # Table E.1-1 (2026c) has ~650 rows; a silently truncated table would pass every other test.
    assert len(STANDARD_ACTIONS) > 600
    assert standard_action(Tag(0x0008, 0x1030)) == "X"  # Study Description
    assert standard_action(Tag(0x0010, 0x0010)) == "Z"  # Patient's Name
    assert standard_action(Tag(0x0020, 0x000D)) == "U"  # Study Instance UID
    assert standard_action(Tag(0x6002, 0x4000)) == "X"  # Overlay Comments, any 60xx group
    assert standard_action(Tag(0x0018, 0x5101)) is None  # View Position is not in the table: kept


@pytest.mark.parametrize(("tag", "code"), ROWS, ids=[f"{t.group:04X}{t.element:04X}-{c}" for t, c in ROWS])
def test_every_table_attribute_gets_its_action(
    tag: Tag, code: str, before_after: tuple[Dataset, Dataset]
) -> None:
    before, after = before_after
    if tag in RETAINED:
        assert after[tag].value == before[tag].value
        return
    element = after.get(tag)
    if code == "X" or code.startswith("X/"):
        # Our choice for X/Z, X/D, X/Z/D and X/Z/U*: remove (the most protective of the allowed actions).
        assert element is None, f"{code}: still present"
    elif code == "Z" or (code == "Z/D" and before[tag].VR not in ("DA", "TM", "DT")):
        assert element is not None and _is_empty(element), f"{code}: not emptied"
    elif code == "U":
        assert str(element.value) == remapped_uid(str(before[tag].value), SALT) != str(before[tag].value)
    elif element is not None and element.VR == "SQ":  # D on a sequence: its items cleaned by the table
        assert len(element.value) and all(not str(item.get("PatientName", "")) for item in element.value)
    else:  # D, and Z/D on a date/time: a dummy that says nothing
        assert element is not None and not _is_empty(element) and not _holds_sentinel(element), code


def test_curves_overlays_and_file_meta(before_after: tuple[Dataset, Dataset]) -> None:
    _before, after = before_after
    assert Tag(0x5000, 0x0010) not in after and Tag(0x6000, 0x3000) not in after
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID


def test_hostile_file_leaks_nothing_and_keeps_what_the_model_needs() -> None:
    original = hostile_dicom()
    cleaned = deidentify(original, uid_salt=SALT).data
    assert cleaned[:128] == b"\x00" * 128 and HOSTILE_PREAMBLE[:6] in original[:128]
    leaked = [secret for secret in HOSTILE_SECRETS if secret in cleaned]
    assert not leaked, leaked
    ds = pydicom.dcmread(io.BytesIO(cleaned))
    assert not any(element.tag.is_private for element in ds.iterall())
    nested = ds.ViewCodeSequence[0].ViewModifierCodeSequence[0]
    assert str(nested.PatientName) == "" and nested.PatientID == ""
    for keyword in ("StudyDescription", "SeriesDescription", "PatientBirthName", "IssuerOfPatientID"):
        assert keyword not in ds, keyword
    for keyword in ("MedicalAlerts", "PerformedProcedureStepDescription", "ProtocolName"):
        assert keyword not in ds, keyword
    # Pixels, view, age and modality: unchanged, and the file still decodes the same.
    source = pydicom.dcmread(io.BytesIO(original))
    assert np.array_equal(ds.pixel_array, source.pixel_array)
    assert (ds.PatientAge, ds.ViewPosition, ds.Modality) == ("005Y", "AP", "DX")
    assert decode_image(cleaned).meta == decode_image(original).meta


def test_method_is_recorded_truthfully() -> None:
    ds = pydicom.dcmread(io.BytesIO(deidentify(hostile_dicom(), uid_salt=SALT).data))
    assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "REMOVED"
    codes = [(c.CodeValue, c.CodingSchemeDesignator) for c in ds.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM"), ("113108", "DCM")]  # no safe private option: none was kept
    no_age = pydicom.dcmread(io.BytesIO(deidentify(xray_dicom(age=None), uid_salt=SALT).data))
    assert [c.CodeValue for c in no_age.DeidentificationMethodCodeSequence] == ["113100"]


def test_uids_are_remapped_consistently_with_the_salt() -> None:
    first, second = hostile_dicom(), xray_dicom()
    a = pydicom.dcmread(io.BytesIO(deidentify(first, uid_salt=SALT).data))
    again = pydicom.dcmread(io.BytesIO(deidentify(first, uid_salt=SALT).data))
    other_salt = pydicom.dcmread(io.BytesIO(deidentify(first, uid_salt=b"another-salt").data))
    source = pydicom.dcmread(io.BytesIO(first))
    assert a.StudyInstanceUID == again.StudyInstanceUID == remapped_uid(source.StudyInstanceUID, SALT)
    assert a.StudyInstanceUID != source.StudyInstanceUID != other_salt.StudyInstanceUID
    assert a.StudyInstanceUID.startswith("2.25.") and len(a.StudyInstanceUID) <= 64
    b = pydicom.dcmread(io.BytesIO(deidentify(second, uid_salt=SALT).data))
    assert b.StudyInstanceUID != a.StudyInstanceUID  # different source studies stay different
    with pytest.raises(ValueError):
        deidentify(first, uid_salt=b"")


def test_safe_listed_private_attribute_is_kept_and_declared() -> None:
    data = deidentify(hostile_dicom(), uid_salt=SALT, safe_private=frozenset({("ACME PACS", 0x01)})).data
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.private_block(0x0011, "ACME PACS")[0x01].value == "MRN-0042 private secret"
    assert Tag(0x0009, 0x1010) not in ds  # no creator: never safe
    assert "113111" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
