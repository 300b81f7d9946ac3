"""DICOM: LUTs, MONOCHROME1, Bits Stored, metadata flags, refusals and PS3.15 de-identification."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from mlcore.decoding import decode_image
from mlcore.deidentify import deidentify
from mlcore.dicom import parse_age
from mlcore.errors import InvalidImage
from tests.fixtures.dicoms import (
    MALFORMED_DISPLAY_KINDS,
    gdcm_compressed,
    make_dicom,
    malformed_display_dicom,
    xray_dicom,
    xray_pixels,
)


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(decode_image(data).image, dtype=np.float64)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_monochrome1_is_inverted_to_match_monochrome2() -> None:
    mono2 = _pixels(xray_dicom(photometric="MONOCHROME2"))
    mono1 = _pixels(xray_dicom(photometric="MONOCHROME1"))
    assert _corr(mono1, mono2) > 0.999


def test_decoded_dicom_matches_its_source_xray() -> None:
    source = xray_pixels(12).astype(np.float64)
    assert _corr(_pixels(xray_dicom()), source) > 0.999


def test_dual_personality_preamble_is_still_read_as_dicom() -> None:
    # PS3.10 lets the 128-byte preamble carry a TIFF header (seen in pydicom's own CT_small.dcm).
    plain = xray_dicom()
    tiff_preamble = b"II*\x00" + plain[4:128]
    decoded = decode_image(tiff_preamble + plain[128:])
    assert decoded.format == "DICOM"
    assert np.array_equal(np.asarray(decoded.image), np.asarray(decode_image(plain).image))


def test_bits_stored_masks_unused_high_bits() -> None:
    clean = xray_pixels(12)
    noisy = clean | np.uint16(0xF000)  # garbage in the 4 unused bits
    decoded = _pixels(make_dicom(noisy, bits_stored=12))
    assert _corr(decoded, clean.astype(np.float64)) > 0.999


def test_window_is_applied() -> None:
    pixels = xray_pixels(12)
    centre = float(np.median(pixels))
    windowed = _pixels(make_dicom(pixels, window=(centre, 200.0)))
    # A narrow window saturates most pixels to black or white.
    assert ((windowed == 0) | (windowed == 255)).mean() > 0.5


def test_rescale_slope_and_intercept_are_applied() -> None:
    pixels = xray_pixels(12)
    plain = _pixels(make_dicom(pixels))
    rescaled = _pixels(make_dicom(pixels, rescale=(2.0, -1024.0)))
    assert _corr(plain, rescaled) > 0.999


def test_metadata_and_intended_use_flags() -> None:
    decoded = decode_image(xray_dicom(age="034Y", view="LL", modality="CR"))
    assert decoded.format == "DICOM"
    assert decoded.meta["patient_age_years"] == 34.0
    assert decoded.meta["view_position"] == "LL"
    assert decoded.meta["modality"] == "CR"
    assert decoded.meta["bits_stored"] == 12
    assert set(decoded.flags) == {"adult_patient", "lateral_view"}
    child = decode_image(xray_dicom(age="004Y", view="AP"))
    assert child.flags == ()


@pytest.mark.parametrize(("age", "years"), [("005Y", 5.0), ("018M", 1.5), ("", None), ("abc", None)])
def test_parse_age(age: str, years: float | None) -> None:
    assert parse_age(age) == years


def test_image_too_small_checked_from_header() -> None:
    with pytest.raises(InvalidImage) as info:
        decode_image(make_dicom(np.zeros((32, 32), dtype=np.uint16)))
    assert info.value.code == "image_too_small"


def test_deidentify_applies_basic_profile() -> None:
    original = xray_dicom()
    result = deidentify(original, uid_salt=b"test-salt")
    cleaned, identifiers = result.data, result.identifiers
    before = pydicom.dcmread(io.BytesIO(original))
    after = pydicom.dcmread(io.BytesIO(cleaned))
    assert identifiers["PatientName"] == "Doe^Jane" and identifiers["PatientID"] == "MRN-0042"
    assert identifiers["AccessionNumber"] == "ACC123"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "ReferringPhysicianName"):
        assert str(after.get(keyword, "") or "") == "", keyword
    assert after.AccessionNumber == "" and "InstitutionName" not in after  # Z (Type 2) and X/Z/D
    assert not any(element.tag.is_private for element in after)
    assert after.StudyInstanceUID != before.StudyInstanceUID
    assert after.SOPInstanceUID != before.SOPInstanceUID
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert after.PatientIdentityRemoved == "YES"
    code = after[0x0012, 0x0064].value[0]
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("113100", "DCM")
    # The cleaned copy still decodes to the same picture.
    assert _corr(_pixels(cleaned), _pixels(original)) > 0.9999


def test_deidentify_keeps_clinical_attributes() -> None:
    cleaned = deidentify(xray_dicom(age="005Y", view="PA"), uid_salt=b"test-salt").data
    decoded = decode_image(cleaned)
    assert decoded.meta["view_position"] == "PA" and decoded.meta["patient_age_years"] == 5.0


def test_jpeg_baseline_compressed_dicom_decodes() -> None:
    from pydicom.uid import JPEGBaseline8Bit

    decoded = decode_image(make_dicom(xray_pixels(12), transfer_syntax=JPEGBaseline8Bit))
    assert decoded.meta["bits_stored"] == 8
    assert _corr(np.asarray(decoded.image, dtype=np.float64), xray_pixels(12).astype(np.float64)) > 0.99


@pytest.mark.parametrize(
    "syntax",
    [
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless, first-order prediction (the usual CR/DX export)
        "1.2.840.10008.1.2.4.57",  # JPEG Lossless, process 14
        "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
        "1.2.840.10008.1.2.5",  # RLE lossless
    ],
)
def test_lossless_compressed_dicom_decodes_exactly(syntax: str) -> None:
    plain = xray_dicom()
    compressed = gdcm_compressed(plain, syntax)
    assert pydicom.dcmread(io.BytesIO(compressed)).file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(np.asarray(decode_image(compressed).image), np.asarray(decode_image(plain).image))


def test_video_transfer_syntax_is_refused_by_name() -> None:
    from pydicom.uid import MPEG2MPML

    with pytest.raises(InvalidImage) as refused:
        decode_image(make_dicom(xray_pixels(12), transfer_syntax=MPEG2MPML))
    assert refused.value.code == "dicom_unsupported_syntax" and "MPEG2" in str(refused.value)


@pytest.mark.parametrize("kind", MALFORMED_DISPLAY_KINDS)
def test_malformed_display_settings_are_corrupt_image(kind: str) -> None:
    with pytest.raises(InvalidImage) as info:
        decode_image(malformed_display_dicom(kind))
    assert info.value.code == "corrupt_image"


def test_large_dicom_is_block_averaged_with_parity() -> None:
    from PIL import Image

    from mlcore.preprocessing import to_model_input

    source = Image.fromarray(xray_pixels(12).astype(np.float32)).resize(
        (2000, 1600), Image.Resampling.BICUBIC
    )
    pixels = np.clip(np.asarray(source), 0, 4095).astype(np.uint16)
    decoded = decode_image(make_dicom(pixels, window=(2048.0, 3000.0), photometric="MONOCHROME2"))
    assert decoded.image.size == (1000, 800) and (decoded.width, decoded.height) == (2000, 1600)
    reference = np.clip((pixels.astype(np.float64) - 548) / 3000 * 255, 0, 255)  # the window, full size
    reference_224 = np.asarray(
        Image.fromarray(reference.astype(np.uint8)).resize((224, 224)), dtype=np.float64
    )
    ours = to_model_input(decoded.image)[..., 0].astype(np.float64)
    assert _corr(ours, reference_224) >= 0.99
