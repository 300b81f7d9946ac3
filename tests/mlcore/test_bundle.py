"""The bundle API: metadata round trip, one-call verification, tampering refused, the active-bundle rule."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mlcore.bundle import (
    BundleMetadata,
    ServingManifest,
    load_bundle,
    read_bundle_metadata,
    resolve_bundle_dir,
    write_metadata,
)
from mlcore.config import BUNDLE_ENV, CURRENT_POINTER, MODELS_DIR, default_bundle_dir
from mlcore.errors import BundleError
from mlcore.model_card import model_card


def shipped_bundles() -> list[Path]:
    """Every bundle folder under models/ (each must stay loadable)."""
    return sorted(p for p in MODELS_DIR.glob("*") if (p / "metadata.json").is_file())


@pytest.mark.parametrize("bundle", shipped_bundles(), ids=lambda p: p.name)
def test_shipped_metadata_round_trips_exactly(bundle: Path, tmp_path: Path) -> None:
    raw = json.loads((bundle / "metadata.json").read_text())
    metadata = BundleMetadata.from_dict(raw)
    assert metadata.to_dict() == raw
    # Rewriting the shipped file is a no-op: same keys, same order, same bytes.
    assert write_metadata(tmp_path, metadata).read_text() == (bundle / "metadata.json").read_text()
    assert metadata.indeterminate_band == tuple(raw["indeterminate_band"])


@pytest.mark.parametrize("bundle", shipped_bundles(), ids=lambda p: p.name)
def test_shipped_bundle_loads_verified_with_its_serving_artifacts(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    assert loaded.path == bundle and loaded.serving is not None
    assert loaded.serving.model_sha256 == loaded.metadata.sha256
    assert loaded.serving.to_dict() == json.loads((bundle / "serving.json").read_text())


@pytest.mark.parametrize("bundle", shipped_bundles(), ids=lambda p: p.name)
def test_model_card_is_generated_from_the_typed_metadata(bundle: Path) -> None:
    ablations = bundle / "report" / "ablations.md"
    card = model_card(read_bundle_metadata(bundle), ablations.read_text() if ablations.is_file() else "")
    assert card == (bundle / "MODEL_CARD.md").read_text()


def test_write_then_load_round_trip(bundle_copy: Path) -> None:
    before = load_bundle(bundle_copy).metadata
    changed = replace(before, target_sensitivity=0.97, extra={"note": "kept verbatim"})
    write_metadata(bundle_copy, changed)
    after = load_bundle(bundle_copy)
    assert after.metadata == changed and after.metadata.extra == {"note": "kept verbatim"}
    assert json.loads((bundle_copy / "metadata.json").read_text())["note"] == "kept verbatim"


def test_minimal_metadata_gets_the_documented_defaults(tiny_bundle: Path) -> None:
    metadata = load_bundle(tiny_bundle).metadata
    assert (metadata.threshold, metadata.temperature, metadata.indeterminate_band) == (0.5, 1.5, (0.4, 0.6))
    assert metadata.metrics is None and metadata.training is None and metadata.extra == {}


@pytest.mark.parametrize("name", ["model.keras", "model.tflite", "gate.npz", "head.npz"])
def test_tampered_file_is_refused_in_one_call(bundle_copy: Path, name: str) -> None:
    with (bundle_copy / name).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match=f"sha256 mismatch for {name}"):
        load_bundle(bundle_copy)


def test_tampered_weights_are_refused_even_before_export(bundle_copy: Path) -> None:
    (bundle_copy / "serving.json").unlink()
    assert load_bundle(bundle_copy, serving=False).serving is None
    with pytest.raises(BundleError, match="serving.json is missing"):
        load_bundle(bundle_copy)
    with (bundle_copy / "model.keras").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="sha256 mismatch for model.keras"):
        load_bundle(bundle_copy, serving=False)


def test_verify_false_only_parses(bundle_copy: Path) -> None:
    with (bundle_copy / "model.keras").open("ab") as handle:
        handle.write(b"\0")
    loaded = load_bundle(bundle_copy, verify=False)
    assert loaded.version == "0.0.1-tiny" and isinstance(loaded.serving, ServingManifest)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"threshold": None}, "threshold missing"),
        ({"threshold": "high"}, "malformed"),
        ({"indeterminate_band": [0.6, 0.4]}, "out of range"),
        ({"temperature": -1.0}, "out of range"),
    ],
)
def test_malformed_metadata_is_a_bundle_error(bundle_copy: Path, change: dict, message: str) -> None:
    raw = json.loads((bundle_copy / "metadata.json").read_text())
    (bundle_copy / "metadata.json").write_text(json.dumps({**raw, **change}))
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy, verify=False)


def test_env_names_the_active_bundle_and_an_explicit_path_wins(
    bundle_copy: Path, tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BUNDLE_ENV, str(bundle_copy))
    assert resolve_bundle_dir() == bundle_copy
    assert load_bundle().path == bundle_copy
    assert load_bundle(tiny_bundle).path == tiny_bundle
    (bundle_copy / "model.keras").unlink()
    with pytest.raises(BundleError, match="model.keras is missing"):
        load_bundle()  # the env bundle is the one verified, not models/CURRENT


def test_without_env_the_active_bundle_is_models_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BUNDLE_ENV, raising=False)
    if not CURRENT_POINTER.is_file():
        pytest.skip("models/CURRENT is missing: no shipped bundle in this checkout")
    assert resolve_bundle_dir() == default_bundle_dir()
    assert load_bundle(verify=False).path == default_bundle_dir()


def test_missing_folder_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="metadata.json is missing"):
        load_bundle(tmp_path / "nope")
