"""Decoding: every accepted format, every refusal code, EXIF, reduced-scale JPEG parity, no TensorFlow."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.decoding import DRAFT_MIN_SIDE, decode_image, sniff_format
from mlcore.errors import InvalidImage
from mlcore.image import DecodedImage
from mlcore.preprocessing import to_model_input
from tests.fixtures.dicoms import fixture_xray_paths
from tests.fixtures.hostile import EXPECTED, encode, hostile_corpus, xray_image

REFUSED = sorted(
    kind for kind, code in EXPECTED.items() if code not in ("ok", "not_chest_xray", "file_too_large")
)
DECODABLE = sorted(kind for kind, code in EXPECTED.items() if code in ("ok", "not_chest_xray"))


@pytest.mark.parametrize("kind", REFUSED)
def test_hostile_input_is_refused_with_its_code(corpus: dict, kind: str) -> None:
    _, data = corpus[kind]
    with pytest.raises(InvalidImage) as info:
        decode_image(data)
    assert info.value.code == EXPECTED[kind]
    message = str(info.value)
    assert message and "Traceback" not in message and 'File "' not in message


@pytest.mark.parametrize("kind", REFUSED)
def test_the_web_validation_decode_refuses_exactly_as_the_full_decode(corpus: dict, kind: str) -> None:
    """validate_only (a JPEG not decoded, what the upload check uses) gives every hostile input its code."""
    with pytest.raises(InvalidImage) as info:
        decode_image(corpus[kind][1], validate_only=True)
    assert info.value.code == EXPECTED[kind]


def test_the_web_validation_decode_reports_the_same_header_facts(corpus: dict) -> None:
    """Accepted files keep the facts the Image row stores; a JPEG cut short is still refused."""
    uploads = [path.read_bytes() for path in fixture_xray_paths()[::4]]
    uploads += [corpus[kind][1] for kind in DECODABLE]
    for data in uploads:
        full, checked = decode_image(data), decode_image(data, validate_only=True)
        facts = ("width", "height", "format", "mode", "meta", "flags")
        assert [getattr(checked, f) for f in facts] == [getattr(full, f) for f in facts]
    jpeg = fixture_xray_paths()[0].read_bytes()
    with pytest.raises(InvalidImage) as info:
        decode_image(jpeg[: len(jpeg) // 2], validate_only=True)
    assert info.value.code == "corrupt_image"


@pytest.mark.parametrize("kind", DECODABLE)
def test_awkward_but_valid_input_decodes(corpus: dict, kind: str) -> None:
    decoded = decode_image(corpus[kind][1])
    assert isinstance(decoded, DecodedImage)
    assert decoded.image.mode == "L"
    assert min(decoded.image.size) >= 64
    assert to_model_input(decoded.image).shape == (224, 224, 1)


def test_oversize_file_is_refused_before_decoding() -> None:
    data = hostile_corpus(include_oversize=True)["oversize"][1]
    with pytest.raises(InvalidImage) as info:
        decode_image(data)
    assert info.value.code == "file_too_large"
    with pytest.raises(InvalidImage, match="upload limit"):
        decode_image(b"\xff\xd8\xff" + b"\x00" * 2000, max_bytes=1000)


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(InvalidImage) as info:
        decode_image(encode(xray_image(), "PNG"), max_pixels=10_000)
    assert info.value.code == "too_many_pixels"


@pytest.mark.parametrize(
    ("mode", "fmt", "expected_mode"),
    [
        ("L", "JPEG", "L"),
        ("RGB", "JPEG", "RGB"),
        ("CMYK", "JPEG", "CMYK"),
        ("L", "PNG", "L"),
        ("RGB", "PNG", "RGB"),
    ],
)
def test_formats_and_modes(mode: str, fmt: str, expected_mode: str) -> None:
    image = xray_image().convert(mode)
    decoded = decode_image(encode(image, fmt))
    assert (decoded.format, decoded.mode) == (fmt, expected_mode)
    assert (decoded.width, decoded.height) == image.size
    assert decoded.colorfulness < 3.0  # a gray X-ray stays gray whatever the container


def test_sixteen_bit_png_uses_full_range(corpus: dict) -> None:
    decoded = decode_image(corpus["png_16bit"][1])
    assert decoded.mode.startswith("I")
    values = np.asarray(decoded.image)
    assert values.min() == 0 and values.max() == 255


def test_exif_orientation_is_applied(corpus: dict) -> None:
    upright = np.asarray(xray_image(), dtype=np.float64)
    decoded = decode_image(corpus["exif_rotated_jpeg"][1])
    assert decoded.meta["exif_orientation"] == 6
    assert (decoded.width, decoded.height) == (upright.shape[1], upright.shape[0])
    restored = np.asarray(decoded.image, dtype=np.float64)
    assert np.corrcoef(restored.ravel(), upright.ravel())[0, 1] > 0.98


def test_sniff_format_ignores_file_names() -> None:
    assert sniff_format(encode(xray_image(), "JPEG")) == "JPEG"
    assert sniff_format(encode(xray_image(), "PNG")) == "PNG"
    assert sniff_format(b"%PDF-1.4") == "PDF"
    assert sniff_format(b"hello") is None


def test_display_png_is_viewable(corpus: dict) -> None:
    decoded = decode_image(corpus["dicom_no_preamble"][1])
    with Image.open(io.BytesIO(decoded.display_png(max_side=128))) as shown:
        assert shown.format == "PNG" and max(shown.size) == 128


def _reference_input(data: bytes) -> np.ndarray:
    """The training path: full-resolution decode → RGB → 224 bicubic squash → gray."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB").resize((224, 224)).convert("L"), dtype=np.float64)


def test_reduced_scale_jpeg_matches_training_preprocessing() -> None:
    large = [p for p in fixture_xray_paths() if min(Image.open(p).size) >= 2 * DRAFT_MIN_SIDE]
    assert large, "fixtures include full-resolution-like X-rays"
    for path in large:
        data = path.read_bytes()
        decoded = decode_image(data)
        assert max(decoded.image.size) < max(decoded.width, decoded.height)  # draft really reduced it
        ours = to_model_input(decoded.image)[..., 0].astype(np.float64)
        reference = _reference_input(data)
        assert np.corrcoef(ours.ravel(), reference.ravel())[0, 1] >= 0.99
        assert np.abs(ours - reference).mean() < 2.0


def test_reduced_scale_parity_on_originals(shared_data) -> None:
    paths = sorted((shared_data / "originals").glob("*/*/*.jpeg"))[::4]
    for path in paths:
        data = path.read_bytes()
        ours = to_model_input(decode_image(data).image)[..., 0].astype(np.float64)
        assert np.corrcoef(ours.ravel(), _reference_input(data).ravel())[0, 1] >= 0.99, path.name


def test_decoding_never_imports_tensorflow() -> None:
    code = (
        "import sys, mlcore.decoding, mlcore.dicom;"
        "from tests.fixtures.hostile import hostile_corpus;"
        "[mlcore.decoding.decode_image(d) for k, (n, d) in hostile_corpus().items() if k == 'photo'];"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_pillow_bomb_guard_maps_to_too_many_pixels() -> None:
    from tests.fixtures.hostile import _png_bomb

    with pytest.raises(InvalidImage) as info:
        decode_image(_png_bomb(), max_pixels=10**12)  # our limit off: Pillow's own guard must still answer
    assert info.value.code == "too_many_pixels"


def test_large_png_is_box_reduced_with_parity(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlcore.image

    big = xray_image().resize((2000, 1500), Image.Resampling.BICUBIC)
    for image in (big, Image.fromarray(np.asarray(big, dtype=np.uint16) * 257)):  # 8- and 16-bit
        data = encode(image, "PNG")
        decoded = decode_image(data)
        assert decoded.image.size == (1000, 750) and (decoded.width, decoded.height) == (2000, 1500)
        with monkeypatch.context() as patch:
            patch.setattr(mlcore.image, "DRAFT_MIN_SIDE", 10**6)  # no reduction: full-size decode
            full = to_model_input(decode_image(data).image)[..., 0].astype(np.float64)
        ours = to_model_input(decoded.image)[..., 0].astype(np.float64)
        assert np.corrcoef(ours.ravel(), full.ravel())[0, 1] >= 0.999
