"""Build a bundle's serving artifacts: LiteRT model, CAM head, input gate, and serving.json listing them.

    python -m mlcore.export models/<version> [--skip-gate-eval] [--negatives ../shared/data/not_cxr]
    python -m mlcore.export models/<version> --gate-only [--negatives DIR [--merge-negatives]]
    python -m mlcore.export models/<version> --model-only

Re-run whenever model.keras changes: serving.json records the model.keras sha256 it was built from and the
predictor refuses stale artifacts. Never rebuild a shipped bundle's artifacts in place: copy the folder to a
new version first (docs/MODEL_BUNDLE.md, "Versions"), so one version always means the same predictions. TensorFlow is imported here (offline), never by the serving path.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.bundle import ServingManifest, file_sha256, load_bundle, resolve_bundle_dir, write_serving
from mlcore.config import PROJECT_ROOT
from mlcore.decoding import decode_image
from mlcore.gate_fit import evaluate_gate_rates, fit_gate_for_bundle
from mlcore.gate_real import NEGATIVES_FILE, RealSet, collect_real_set
from mlcore.litert import LiteRTRunner
from mlcore.preprocessing import to_model_input

PARITY_TOLERANCE = 1e-4
ARTIFACTS = ("model.tflite", "head.npz", "gate.npz")


def serving_model(model: Any) -> Any:
    """The same weights with outputs [logit, last_conv] and, for the single-scale head, the 20x20 Grad-CAM
    map (mlcore.gradcam), so one pass gives probability, gate features and heatmap."""
    import keras

    from mlcore.gradcam import gradcam_model, supports_gradcam

    if supports_gradcam(model):
        return gradcam_model(model)
    return keras.Model(model.input, [model.get_layer("logit").output, model.get_layer("last_conv").output])


def load_keras(bundle_dir: Path) -> Any:
    """The bundle's Keras model, with TensorFlow pinned to this machine's cores."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(2)
    except RuntimeError:
        pass
    return keras.saving.load_model(bundle_dir / "model.keras", compile=False)


def convert_to_litert(model: Any) -> bytes:
    """Float32 LiteRT flatbuffer of the serving model (no quantisation)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(serving_model(model))
    return converter.convert()


def save_head(model: Any, path: Path) -> None:
    """The logit layer's kernel and bias: the CAM weights."""
    kernel, bias = model.get_layer("logit").get_weights()
    np.savez(path, kernel=kernel.astype(np.float32), bias=bias.astype(np.float32))


def parity_inputs(limit: int = 40) -> list[np.ndarray]:
    """Model inputs from the committed fixture X-rays (real images, as uploaded)."""
    paths = sorted((PROJECT_ROOT / "tests" / "fixtures" / "xrays").glob("*/*.jpg"))[:limit]
    return [to_model_input(decode_image(p.read_bytes()).image) for p in paths]


def keras_logits(model: Any, inputs: np.ndarray) -> np.ndarray:
    """Reference logits from Keras itself (inference mode)."""
    return np.asarray(model(inputs, training=False)).reshape(-1)


def measure_parity(model: Any, tflite_path: Path, temperature: float) -> dict[str, float]:
    """Max |Δp| and |Δlogit| between Keras and the LiteRT export on real images."""
    inputs = np.stack(parity_inputs())
    reference = keras_logits(model, inputs)
    runner = LiteRTRunner(tflite_path)
    exported = np.concatenate([runner.run(x[np.newaxis])[0] for x in inputs])
    p_ref, p_exp = (1 / (1 + np.exp(-z / temperature)) for z in (reference, exported))
    return {
        "images": len(inputs),
        "max_abs_dp": float(np.abs(p_ref - p_exp).max()),
        "max_abs_dlogit": float(np.abs(reference - exported).max()),
    }


def time_backends(model: Any, tflite_path: Path, repeats: int = 30) -> dict[str, float]:
    """p50 ms per image of LiteRT vs a fixed-signature tf.function (the choice is recorded)."""
    import tensorflow as tf

    x = np.stack(parity_inputs(1))
    two_outputs = serving_model(model)
    call = tf.function(lambda t: two_outputs(t, training=False), input_signature=[tf.TensorSpec(x.shape)])
    runner = LiteRTRunner(tflite_path)
    timings: dict[str, float] = {}
    for name, run in (("litert", lambda: runner.run(x)), ("tf_function", lambda: call(tf.constant(x)))):
        run()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            samples.append((time.perf_counter() - start) * 1000)
        timings[f"{name}_p50_ms"] = float(np.median(samples))
    return timings


def code_revision() -> str:
    """The git commit of the code that built the artifacts (or 'unknown')."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def export_bundle(
    bundle_dir: Path, *, evaluate_gate: bool = True, use_shared: bool = True, negatives: Path | None = None
) -> dict[str, Any]:
    """Write model.tflite, head.npz, gate.npz and serving.json into the bundle; return serving.json.

    use_shared=False fits the gate on the committed fixtures only (fast; for tests). `negatives`, a folder
    of real non-chest images in <kind>/ subfolders, is first stored as this model's evidence vectors
    (gate_negatives.npz), which the gate's contrast component is then fitted with.
    """
    metadata = load_bundle(bundle_dir, serving=False).metadata
    model, parity = _export_model(bundle_dir, metadata)
    if negatives is not None:
        collect_real_set(LiteRTRunner(bundle_dir / "model.tflite"), negatives).save(
            bundle_dir / NEGATIVES_FILE
        )
    gate, gate_info = fit_gate_for_bundle(bundle_dir, metadata, use_shared=use_shared)
    gate.save(bundle_dir / "gate.npz")
    if evaluate_gate:
        gate_info["rates"] = evaluate_gate_rates(bundle_dir)
    serving = ServingManifest(
        bundle_version=metadata.version,
        model_sha256=metadata.sha256,
        backend="litert",
        artifacts={name: file_sha256(bundle_dir / name) for name in ARTIFACTS},
        parity=parity,
        backend_timing=time_backends(model, bundle_dir / "model.tflite"),
        gate=gate_info,
        code_revision=code_revision(),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    write_serving(bundle_dir, serving)
    return serving.to_dict()


def _export_model(bundle_dir: Path, metadata: Any) -> tuple[Any, dict[str, float]]:
    """Write model.tflite and head.npz and check the export's logits against Keras; (model, parity)."""
    model = load_keras(bundle_dir)
    (bundle_dir / "model.tflite").write_bytes(convert_to_litert(model))
    save_head(model, bundle_dir / "head.npz")
    parity = measure_parity(model, bundle_dir / "model.tflite", metadata.temperature)
    if parity["max_abs_dp"] > PARITY_TOLERANCE:
        raise SystemExit(f"LiteRT export fails parity: {parity}")
    return model, parity


def reexport_model(bundle_dir: Path) -> dict[str, Any]:
    """Rebuild only model.tflite and head.npz of an exported bundle (e.g. to add the Grad-CAM output);
    the gate is kept: its evidence (last_conv) is the same tensor of the same weights."""
    bundle = load_bundle(bundle_dir)
    if bundle.serving is None:
        raise SystemExit(f"{bundle_dir} has no serving.json: run a full export first")
    model, parity = _export_model(bundle_dir, bundle.metadata)
    artifacts = {name: file_sha256(bundle_dir / name) for name in ARTIFACTS}
    timing = time_backends(model, bundle_dir / "model.tflite")
    serving = replace(
        bundle.serving,
        artifacts=artifacts,
        parity=parity,
        backend_timing=timing,
        code_revision=code_revision(),
    )
    write_serving(bundle_dir, serving)
    return serving.to_dict()


def collect_negatives(bundle_dir: Path, folder: Path, *, merge: bool = False) -> None:
    """Store the evidence of DIR/<kind>/ images for this model as gate_negatives.npz (after what is stored
    already when `merge`)."""
    found = collect_real_set(LiteRTRunner(bundle_dir / "model.tflite"), folder)
    stored = RealSet.load(bundle_dir / NEGATIVES_FILE) if merge else None
    (stored.merged(found) if stored else found).save(bundle_dir / NEGATIVES_FILE)


def refit_gate(bundle_dir: Path) -> dict[str, Any]:
    """Refit and measure only the input gate of an exported bundle (LiteRT only, no TensorFlow); the
    model artifacts are unchanged, serving.json gets the new gate.npz sha256 and figures."""
    bundle = load_bundle(bundle_dir)
    if bundle.serving is None:
        raise SystemExit(f"{bundle_dir} has no serving.json: run a full export first")
    gate, gate_info = fit_gate_for_bundle(bundle_dir, bundle.metadata)
    gate.save(bundle_dir / "gate.npz")
    gate_info["rates"] = evaluate_gate_rates(bundle_dir)
    artifacts = {**bundle.serving.artifacts, "gate.npz": file_sha256(bundle_dir / "gate.npz")}
    serving = replace(bundle.serving, artifacts=artifacts, gate=gate_info, code_revision=code_revision())
    write_serving(bundle_dir, serving)
    return serving.to_dict()


def main() -> None:
    """CLI: python -m mlcore.export [BUNDLE_DIR] [--skip-gate-eval]."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", help="bundle folder (default: models/CURRENT)")
    parser.add_argument("--skip-gate-eval", action="store_true", help="fit the gate but skip measuring it")
    parser.add_argument("--negatives", type=Path, help="real non-chest images, DIR/<kind>/ (e.g. not_cxr)")
    parser.add_argument(
        "--gate-only", action="store_true", help="refit only the gate (keeps the model artifacts)"
    )
    parser.add_argument("--merge-negatives", action="store_true", help="add --negatives to the stored ones")
    parser.add_argument(
        "--model-only", action="store_true", help="rebuild only model.tflite and head.npz (keeps the gate)"
    )
    args = parser.parse_args()
    bundle_dir = resolve_bundle_dir(args.bundle)
    if args.model_only:
        serving = reexport_model(bundle_dir)
    elif args.gate_only:
        if args.negatives is not None:
            collect_negatives(bundle_dir, args.negatives, merge=args.merge_negatives)
        serving = refit_gate(bundle_dir)
    else:
        serving = export_bundle(bundle_dir, evaluate_gate=not args.skip_gate_eval, negatives=args.negatives)
    print(
        json.dumps({k: serving[k] for k in ("bundle_version", "parity", "backend_timing", "gate")}, indent=2)
    )


if __name__ == "__main__":
    main()
