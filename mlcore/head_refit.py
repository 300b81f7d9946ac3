"""A new multi-scale CAM head on a trained model's frozen backbone: a finer explanation map at a small cost.

    python -m mlcore refit-head --base models/airspace-cnn-1.0.0 --data ../shared/data/chest_xray_224/train \
        --out runs/airspace-cnn-2.0.0 --params mlcore/params/v2_head.json

Training a backbone from scratch takes ~20 min of two idle cores; on a machine shared with other jobs it
can take hours. The backbone's stage outputs do not change when only the head is trained, so:
1. the base model's stage maps (stride `cam_stride` and deeper) are computed once for the train and
   validation images of the usual patient split (same seed, same validation patients as the base);
2. a CamHead (mlcore.model) is trained on those cached maps: AdamW, cosine LR, balanced class weights,
   label smoothing, early stopping on validation AUC with the best weights kept;
3. the same head layers are attached to the base model's own stage tensors, giving one functional model
   (input -> frozen backbone -> CamHead -> logit) saved as model.keras, followed by the usual run folder:
   validation predictions, calibration and operating point on validation, metadata.json.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlcore import data
from mlcore.bundle import BundleMetadata, file_sha256, write_metadata
from mlcore.train import (
    CACHE_DIR,
    _compile,
    _metadata,
    _setup_logging,
    _validation_summary,
    _write_predictions,
    calibrate_and_score,
    cosine_lr,
    load_params,
    log,
)

_STAGE_OUT = re.compile(r"^s(\d+)b(\d+)_out$")


def stage_outputs(model: Any) -> list[Any]:
    """The last block output of every stage (`s{stage}b{block}_out`), in stage order."""
    last: dict[int, tuple[int, str]] = {}
    for layer in model.layers:
        match = _STAGE_OUT.match(layer.name)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            last[stage] = max(last.get(stage, (-1, "")), (block, layer.name))
    return [model.get_layer(last[s][1]).output for s in sorted(last)]


def _stage_maps(extractor: Any, images: np.ndarray, batch: int = 64) -> list[np.ndarray]:
    """The extractor's stage maps for uint8 images, batch by batch (float32)."""
    chunks: list[list[np.ndarray]] = []
    for start in range(0, len(images), batch):
        out = extractor(images[start : start + batch].astype(np.float32), training=False)
        chunks.append([np.asarray(t) for t in (out if isinstance(out, list | tuple) else [out])])
    return [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]


def _fit_head(head_model: Any, maps: dict[str, Any], params: dict[str, Any], run_dir: Path) -> int:
    """Train the head on cached stage maps; returns the epochs run (best weights restored)."""
    import keras

    weights = data.class_weights(maps["y_train"])
    sample_weight = np.where(maps["y_train"] == 1, weights[1], weights[0]).astype(np.float32)
    _compile(head_model, params)
    history = head_model.fit(
        maps["train"], maps["y_train"].astype(np.float32), sample_weight=sample_weight,
        validation_data=(maps["val"], maps["y_val"].astype(np.float32)),
        batch_size=params["batch_size"], epochs=params["epochs"], shuffle=True, verbose=2,
        callbacks=[
            keras.callbacks.LearningRateScheduler(lambda e: cosine_lr(e, params)),
            keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
            keras.callbacks.EarlyStopping(
                monitor="val_auc", mode="max", patience=params["early_stopping_patience"],
                restore_best_weights=True,
            ),
        ],
    )  # fmt: skip
    return len(history.history["loss"])


def _start_from_base_head(head: Any, base: Any) -> None:
    """Start at the base model's own head: its 1x1 conv on the deepest stage, BN and logit, with the finer
    stages' projections at zero, so training begins from the base's predictions (up to the bilinear
    resize) and the finer maps only add what improves the validation loss."""
    head.projections[-1].set_weights(base.get_layer("head_conv").get_weights())
    for projection in head.projections[:-1]:
        projection.set_weights([np.zeros_like(w) for w in projection.get_weights()])
    head.bn.set_weights(base.get_layer("head_bn").get_weights())
    head.logit.set_weights(base.get_layer("logit").get_weights())


def refit_head(
    base_dir: str | Path, data_dir: str | Path, run_dir: str | Path, params_path: str | Path | None = None
) -> dict[str, Any]:
    """Train a CamHead on the base bundle's frozen backbone and write a complete run folder."""
    import keras

    from mlcore.model import CamHead, configure_threads, first_cam_stage

    run_dir, base_dir = Path(run_dir), Path(base_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(run_dir)
    params = load_params(params_path)
    (run_dir / "params.json").write_text(json.dumps(params, indent=2))
    configure_threads(params["threads"])
    keras.utils.set_random_seed(params["seed"])
    started = time.time()
    # 1. Cached stage maps of the frozen backbone, on the base's own patient split.
    base = keras.models.load_model(base_dir / "model.keras", compile=False)
    first = first_cam_stage(params["arch"]["cam_stride"])
    kept = stage_outputs(base)[first:]
    extractor = keras.Model(base.input, kept)
    records = data.scan_folder(data_dir)
    train_records, val_records = data.split_by_patient(records, params["val_fraction"], params["seed"])
    manifest = data.manifest_sha256(records, data_dir)
    x_val = data.load_cached(val_records, CACHE_DIR, manifest + "val")
    maps = {
        "train": _stage_maps(extractor, data.load_cached(train_records, CACHE_DIR, manifest + "train")),
        "val": _stage_maps(extractor, x_val),
        "y_train": data.labels_of(train_records),
        "y_val": data.labels_of(val_records),
    }
    log.info("stage maps %s cached in %.0f s", [m.shape[1:] for m in maps["train"]], time.time() - started)
    # 2. The head, trained on the cached maps.
    shapes = [(int(t.shape[1]), int(t.shape[2])) for t in kept]
    head = CamHead(shapes, first, params["arch"]["head_filters"], params["arch"]["dropout"])
    inputs = [keras.Input(tuple(int(d) for d in t.shape[1:])) for t in kept]
    head_model = keras.Model(inputs, head(inputs))
    if params["arch"].get("init_from_base"):
        _start_from_base_head(head, base)
    epochs = _fit_head(head_model, maps, params, run_dir)
    # 3. One functional model: input -> frozen backbone -> the trained head.
    model = keras.Model(base.input, head(kept), name="airspace_cnn")
    for layer in model.layers:
        layer.trainable = layer.name.startswith(("head_", "last_conv", "gap", "dropout", "logit"))
    logits = np.asarray(model.predict(x_val.astype(np.float32), batch_size=64, verbose=0))[:, 0]
    _write_predictions(run_dir / "val_predictions.csv", val_records, logits)
    model.save(run_dir / "model.keras")
    meta = _metadata(run_dir, params, manifest, time.time() - started, epochs, model.count_params())
    meta["training"]["command"] = (
        f"python -m mlcore refit-head --base {base_dir} --data {data_dir} --out {run_dir}"
        + (f" --params {params_path}" if params_path else "")
    )
    meta["training"]["base_model"] = {
        "bundle": base_dir.name,
        "sha256": file_sha256(base_dir / "model.keras"),
    }
    meta.update(calibrate_and_score(logits, val_records, params))
    meta["validation"] = _validation_summary(val_records, params)
    write_metadata(run_dir, BundleMetadata.from_dict(meta))
    log.info("validation metrics %s", {k: round(v["value"], 4) for k, v in meta["metrics"].items()})
    return meta
