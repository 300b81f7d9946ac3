"""The model bundle: one typed way to find, read, verify and write it (no TensorFlow; the web process uses it).

A bundle is a folder `models/<version>/` holding model.keras and metadata.json (BundleMetadata), plus, once
`python -m mlcore.export` has run, the serving artifacts that serving.json (ServingManifest) lists with
their sha256. `load_bundle()` is the entry point every reader uses: it resolves the active bundle once,
parses both files into frozen dataclasses and checks every file against its recorded sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcore.config import BUNDLE_ENV, INPUT_SIZE, default_bundle_dir
from mlcore.errors import BundleError
from mlcore.preprocessing import PREPROCESSING_VERSION

METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.keras"
SERVING_FILE = "serving.json"


def resolve_bundle_dir(path: str | Path | None = None) -> Path:
    """The bundle folder: `path`, else $AIRSPACE_MODEL_BUNDLE, else the folder models/CURRENT names."""
    chosen = path or os.environ.get(BUNDLE_ENV)
    if chosen:
        return Path(chosen)
    try:
        return default_bundle_dir()
    except FileNotFoundError as exc:
        raise BundleError(f"No model bundle: {exc.filename} is missing") from exc


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _to_dict(record: Any) -> dict[str, Any]:
    """A metadata dataclass as JSON-ready data: declared fields in order (None omitted), then `extra`."""
    out: dict[str, Any] = {}
    for spec in dataclasses.fields(record):
        value = getattr(record, spec.name)
        if spec.name != "extra" and value is not None:
            out[spec.name] = list(value) if isinstance(value, tuple) else value
    return {**out, **record.extra}


def _unknown(cls: type, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `raw` that `cls` does not declare, kept verbatim so nothing written is lost."""
    return {k: v for k, v in raw.items() if k not in {f.name for f in dataclasses.fields(cls)}}


def _optional(raw: Mapping[str, Any], key: str, kind: type) -> Any:
    """raw[key] converted to `kind`, or None when absent or null."""
    return None if raw.get(key) is None else kind(raw[key])


@dataclass(frozen=True, kw_only=True)
class BundleMetadata:
    """metadata.json: identity, preprocessing, operating point, calibration and validation metrics.

    Training writes it into the run folder, packaging completes it for the bundle, and inference,
    evaluation, export, the gate and the model card read it; fields not declared here stay in `extra`.
    """

    version: str
    sha256: str  # of model.keras
    input_size: int = INPUT_SIZE
    preprocessing: str = PREPROCESSING_VERSION
    data_manifest_sha256: str | None = None
    code_revision: str | None = None
    created_at: str | None = None
    training: dict[str, Any] | None = None  # params, seconds, epochs, params_count, file_bytes, command
    threshold: float  # operating point on the calibrated probability
    temperature: float = 1.0  # calibration: p = sigmoid(logit / temperature)
    indeterminate_band: tuple[float, float]  # [low, high] on the calibrated probability
    indeterminate_fraction: float | None = None
    target_sensitivity: float | None = None
    metrics: dict[str, Any] | None = None  # name -> {value, ci_low, ci_high} on the validation split
    ece_uncalibrated: float | None = None
    validation_probability_histogram: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None  # n_images, n_patients, class_counts, split_seed, val_fraction
    extra_evaluations: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = METADATA_FILE) -> BundleMetadata:
        """Parse and check metadata.json content; BundleError names what is missing or malformed."""
        missing = [key for key in ("version", "sha256", "threshold") if raw.get(key) is None]
        if missing:
            raise BundleError(f"{source}: {', '.join(missing)} missing")
        try:
            threshold = float(raw["threshold"])
            low, high = (float(v) for v in raw.get("indeterminate_band") or (threshold, threshold))
            metadata = cls(
                version=str(raw["version"]),
                sha256=str(raw["sha256"]),
                input_size=int(raw.get("input_size", INPUT_SIZE)),
                preprocessing=str(raw.get("preprocessing", PREPROCESSING_VERSION)),
                threshold=threshold,
                temperature=float(raw.get("temperature") or 1.0),
                indeterminate_band=(low, high),
                **{
                    k: _optional(raw, k, str) for k in ("data_manifest_sha256", "code_revision", "created_at")
                },
                **{k: _optional(raw, k, float) for k in _FLOATS},
                **{k: _optional(raw, k, dict) for k in _BLOCKS},
                extra=_unknown(cls, raw),
            )
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{source}: malformed ({exc})") from exc
        metadata.check(source)
        return metadata

    def check(self, source: str = METADATA_FILE) -> None:
        """Refuse an operating point no prediction could honour."""
        low, high = self.indeterminate_band
        if not (0.0 <= low <= self.threshold <= high <= 1.0) or self.temperature <= 0:
            raise BundleError(
                f"{source}: threshold {self.threshold}, band {list(self.indeterminate_band)} or temperature "
                f"{self.temperature} out of range (need 0 <= low <= threshold <= high <= 1, temperature > 0)"
            )

    def to_dict(self) -> dict[str, Any]:
        """metadata.json content (the inverse of from_dict)."""
        return _to_dict(self)


_FLOATS = ("indeterminate_fraction", "target_sensitivity", "ece_uncalibrated")
_BLOCKS = ("training", "metrics", "validation_probability_histogram", "validation", "extra_evaluations")


@dataclass(frozen=True, kw_only=True)
class ServingManifest:
    """serving.json: the artifacts built from model.keras by `python -m mlcore.export`, with their sha256."""

    bundle_version: str
    model_sha256: str  # the model.keras they were built from
    backend: str = "litert"
    artifacts: dict[str, str]  # file name -> sha256
    parity: dict[str, Any] | None = None
    backend_timing: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    code_revision: str | None = None
    built_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = SERVING_FILE) -> ServingManifest:
        """Parse serving.json content; BundleError if it cannot describe any artifact."""
        artifacts = raw.get("artifacts")
        if not isinstance(artifacts, dict) or raw.get("model_sha256") is None:
            raise BundleError(f"{source}: model_sha256 or artifacts missing")
        return cls(
            bundle_version=str(raw.get("bundle_version", "")),
            model_sha256=str(raw["model_sha256"]),
            backend=str(raw.get("backend", "litert")),
            artifacts={str(k): str(v) for k, v in artifacts.items()},
            **{k: _optional(raw, k, dict) for k in ("parity", "backend_timing", "gate")},
            **{k: _optional(raw, k, str) for k in ("code_revision", "built_at")},
            extra=_unknown(cls, raw),
        )

    def to_dict(self) -> dict[str, Any]:
        """serving.json content (the inverse of from_dict)."""
        return _to_dict(self)


@dataclass(frozen=True)
class Bundle:
    """A located bundle: its folder, metadata and (once exported) serving manifest."""

    path: Path
    metadata: BundleMetadata
    serving: ServingManifest | None = None

    @property
    def version(self) -> str:
        """The model version every prediction carries."""
        return self.metadata.version

    def file(self, name: str) -> Path:
        """A file inside the bundle (weights, an artifact, a report)."""
        return self.path / name


def _read_json(bundle_dir: Path, name: str, fix: str = "") -> dict[str, Any]:
    """A JSON object file of the bundle, or BundleError saying what is wrong."""
    path = bundle_dir / name
    if not path.is_file():
        raise BundleError(f"Model bundle {bundle_dir.name}: {name} is missing{fix}")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"Model bundle {bundle_dir.name}: {name} is unreadable ({exc})") from exc
    if not isinstance(data, dict):
        raise BundleError(f"Model bundle {bundle_dir.name}: {name} is not a JSON object")
    return data


def _check_sha256(bundle_dir: Path, name: str, expected: str, fix: str = "") -> None:
    """Refuse a missing file or one whose sha256 differs from the recorded one."""
    path = bundle_dir / name
    if not path.is_file():
        raise BundleError(f"Model bundle {bundle_dir.name}: {name} is missing{fix}")
    actual = file_sha256(path)
    if actual != expected:
        raise BundleError(
            f"Model bundle {bundle_dir.name}: sha256 mismatch for {name} (expected {expected}, found {actual})"
        )


def read_metadata(bundle_dir: Path) -> dict[str, Any]:
    """The bundle's metadata.json as written (for display); typed and checked: load_bundle().metadata."""
    return _read_json(bundle_dir, METADATA_FILE)


def read_bundle_metadata(bundle_dir: Path) -> BundleMetadata:
    """The bundle's (or a run folder's) metadata.json, parsed and checked, without hashing any file."""
    return BundleMetadata.from_dict(
        _read_json(bundle_dir, METADATA_FILE), source=f"Model bundle {bundle_dir.name}: {METADATA_FILE}"
    )


def write_metadata(folder: Path, metadata: BundleMetadata) -> Path:
    """Write metadata.json into a run or bundle folder (checked first, so no reader is handed a bad one)."""
    metadata.check(str(folder / METADATA_FILE))
    path = folder / METADATA_FILE
    path.write_text(json.dumps(metadata.to_dict(), indent=2))
    return path


def write_serving(bundle_dir: Path, serving: ServingManifest) -> Path:
    """Write serving.json into a bundle."""
    path = bundle_dir / SERVING_FILE
    path.write_text(json.dumps(serving.to_dict(), indent=2) + "\n")
    return path


def read_serving(bundle_dir: Path, model_sha256: str) -> ServingManifest:
    """serving.json, with every listed artifact present and matching its sha256, built for this model."""
    fix = f"; run `python -m mlcore.export {bundle_dir}`"
    raw = _read_json(bundle_dir, SERVING_FILE, fix)
    serving = ServingManifest.from_dict(raw, source=f"Model bundle {bundle_dir.name}: {SERVING_FILE}")
    if serving.model_sha256 != model_sha256:
        raise BundleError(
            f"Model bundle {bundle_dir.name}: serving artifacts were built for another model{fix}"
        )
    for name, expected in serving.artifacts.items():
        _check_sha256(bundle_dir, name, expected, fix)
    return serving


def load_bundle(path: Path | str | None = None, *, serving: bool = True, verify: bool = True) -> Bundle:
    """The bundle at `path` (None: $AIRSPACE_MODEL_BUNDLE, else models/CURRENT), parsed and verified.

    verify: model.keras must match metadata's sha256 and, with serving=True, serving.json must exist,
    be built from that model and list artifacts that all match their sha256. serving=False is for a
    bundle not yet exported (or a run folder); verify=False only parses (pages showing the bundle).
    BundleError says what is missing, malformed or altered.
    """
    bundle_dir = resolve_bundle_dir(path)
    metadata = read_bundle_metadata(bundle_dir)
    manifest = None
    if verify:
        _check_sha256(bundle_dir, WEIGHTS_FILE, metadata.sha256)
        if serving:
            manifest = read_serving(bundle_dir, metadata.sha256)
    elif serving and (bundle_dir / SERVING_FILE).is_file():
        manifest = ServingManifest.from_dict(_read_json(bundle_dir, SERVING_FILE))
    return Bundle(bundle_dir, metadata, manifest)


def verify_bundle(path: str | Path | None = None) -> dict[str, Any]:
    """Check the weights exist and match the recorded sha256; return metadata.json as written."""
    bundle = load_bundle(path, serving=False)
    return read_metadata(bundle.path)
