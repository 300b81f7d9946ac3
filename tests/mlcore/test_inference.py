"""Predictor: result contract, heatmap, batch, DICOM flags, and bundle integrity (BundleError)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.calibration import label_confidence
from mlcore.errors import BundleError, InvalidImage, RejectedImage
from mlcore.inference import PredictionResult, load_predictor
from tests.fixtures.dicoms import fixture_xray_paths, xray_dicom


def test_prediction_contract(predictor) -> None:
    result = predictor.predict(fixture_xray_paths()[0].read_bytes())
    assert isinstance(result, PredictionResult)
    assert 0.0 <= result.probability <= 1.0
    assert result.label == ("PNEUMONIA" if result.probability >= result.threshold else "NORMAL")
    assert result.confidence == pytest.approx(label_confidence(result.probability, result.label))
    assert result.threshold == predictor.threshold
    low, high = predictor.band
    assert result.indeterminate == (low <= result.probability <= high)
    assert result.model_version == predictor.version
    assert set(result.timings) == {"decode_ms", "model_ms", "heatmap_ms", "total_ms"}
    assert result.timings["total_ms"] >= result.timings["model_ms"] >= 0
    assert result.image_format == "JPEG" and result.gate_score <= 1.0


def test_heatmap_is_an_rgba_png_with_the_image_aspect(predictor) -> None:
    peaks = []
    for path in fixture_xray_paths()[::8]:
        result = predictor.predict(path.read_bytes())
        with Image.open(io.BytesIO(result.heatmap_png)) as overlay:
            # Indexed colour with a transparency table (tRNS): RGBA to a browser, a quarter of the bytes.
            assert overlay.format == "PNG" and overlay.mode == "P" and "transparency" in overlay.info
            width, height = overlay.size
            alpha = np.asarray(overlay.convert("RGBA"))[..., 3]
        assert max(width, height) <= 1024
        assert width / height == pytest.approx(result.image_width / result.image_height, rel=0.02)
        assert alpha.min() == 0  # transparent where the evidence is low
        peaks.append(int(alpha.max()))
    assert max(peaks) > 0  # and visible where the CAM peaks


def test_cam_follows_the_predicted_label() -> None:
    from mlcore.heatmap import class_activation_map

    conv = np.zeros((3, 3, 2), dtype=np.float32)
    conv[0, 0, 0], conv[2, 2, 1] = 1.0, 1.0
    weights = np.array([2.0, -2.0])
    assert class_activation_map(conv, weights, 1.0)[0, 0] == 1.0  # pneumonia evidence top-left
    assert class_activation_map(conv, weights, -1.0)[2, 2] == 1.0  # normal evidence bottom-right


def test_cam_is_exact_for_gap_dense_head(predictor) -> None:
    x = np.zeros((1, *predictor.runner.input_shape), dtype=np.float32) + 128
    logits, conv = predictor.runner.run(x)
    head = np.load(predictor.bundle_dir / "head.npz")
    recomputed = conv[0].mean(axis=(0, 1)) @ head["kernel"].reshape(-1) + head["bias"][0]
    assert recomputed == pytest.approx(float(logits[0]), abs=1e-4)


def test_batch_matches_single_predictions(predictor, corpus) -> None:
    items = [p.read_bytes() for p in fixture_xray_paths()[:3]] + [
        corpus["truncated_jpeg"][1],
        corpus["photo"][1],
    ]
    results = predictor.predict_batch(items)
    assert len(results) == 5
    for data, batched in zip(items[:3], results[:3], strict=True):
        assert batched.probability == pytest.approx(predictor.predict(data).probability, abs=1e-5)
    assert isinstance(results[3], InvalidImage) and results[3].code == "corrupt_image"
    assert isinstance(results[4], RejectedImage)


def test_dicom_prediction_carries_flags(predictor) -> None:
    result = predictor.predict(xray_dicom(age="040Y", view="AP"))
    assert result.image_format == "DICOM"
    assert result.flags == ("adult_patient",)
    assert result.meta["patient_age_years"] == 40.0


def test_undecodable_bytes_raise_invalid_image(predictor, corpus) -> None:
    with pytest.raises(InvalidImage) as info:
        predictor.predict(corpus["pdf_as_jpg"][1])
    assert info.value.code == "unsupported_format"


def test_loads_and_verifies_a_bundle(tiny_bundle: Path) -> None:
    loaded = load_predictor(tiny_bundle)
    assert loaded.version == "0.0.1-tiny"
    assert loaded.metadata.threshold == 0.5


@pytest.mark.parametrize("name", ["model.keras", "model.tflite", "gate.npz", "head.npz"])
def test_tampered_artifact_is_a_bundle_error(bundle_copy: Path, name: str) -> None:
    with (bundle_copy / name).open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_predictor(bundle_copy)


@pytest.mark.parametrize("name", ["model.tflite", "serving.json", "metadata.json", "model.keras"])
def test_missing_file_is_a_bundle_error(bundle_copy: Path, name: str) -> None:
    (bundle_copy / name).unlink()
    with pytest.raises(BundleError, match="missing"):
        load_predictor(bundle_copy)


def test_stale_serving_artifacts_are_refused(bundle_copy: Path) -> None:
    serving = json.loads((bundle_copy / "serving.json").read_text())
    serving["model_sha256"] = "0" * 64
    (bundle_copy / "serving.json").write_text(json.dumps(serving))
    with pytest.raises(BundleError, match="another model"):
        load_predictor(bundle_copy)


def test_missing_bundle_folder_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        load_predictor(tmp_path / "nope")


def test_reduced_scale_decode_barely_moves_the_probability(predictor) -> None:
    from mlcore.decoding import DRAFT_MIN_SIDE, decode_image
    from mlcore.preprocessing import to_model_input

    large = [p for p in fixture_xray_paths() if min(Image.open(p).size) >= 2 * DRAFT_MIN_SIDE]
    for path in large:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            full = to_model_input(image.convert("RGB"))  # the training path: full-resolution decode
        drafted = to_model_input(decode_image(data).image)
        logits, _ = predictor.runner.run(np.stack([full, drafted]))
        assert abs(predictor.calibrated(float(logits[0])) - predictor.calibrated(float(logits[1]))) < 0.02
