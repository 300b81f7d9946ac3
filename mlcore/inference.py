"""Serving: bytes → calibrated probability, CAM heatmap and input-gate verdict from one forward pass.

The model runs as a LiteRT export built by `python -m mlcore.export BUNDLE` (measured several times faster
than `tf.function` and ~50x faster than `keras.Model.predict` on this CPU); TensorFlow is never imported here.
"""

from __future__ import annotations

import copy
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.bundle import Bundle, load_bundle
from mlcore.calibration import label_confidence
from mlcore.decoding import decode_image
from mlcore.errors import BundleError, InvalidImage, RejectedImage
from mlcore.gate import Gate, gather_evidence
from mlcore.gradcam import gradcam_map
from mlcore.heatmap import HEATMAP_MAX_SIDE, class_activation_map, heatmap_png
from mlcore.image import DecodedImage, display_size
from mlcore.input_drift import input_statistics
from mlcore.litert import THREADS, LiteRTRunner
from mlcore.preprocessing import to_model_input


@dataclass(frozen=True)
class PredictionResult:
    """One prediction: calibrated probability, label at the bundle's operating point, heatmap, provenance.

    heatmap_png is a transparent RGBA overlay of the map for the predicted label (where the evidence for
    that label sits): Grad-CAM on stage s1 (20x20) when the export carries it, else CAM on last_conv;
    at the image's aspect ratio with its longest side <= HEATMAP_MAX_SIDE px.
    """

    probability: float
    label: str
    confidence: float
    threshold: float
    indeterminate: bool
    model_version: str
    heatmap_png: bytes
    flags: tuple[str, ...]
    timings: dict[str, float]
    gate_score: float
    image_width: int
    image_height: int
    image_format: str
    meta: dict[str, Any] = field(default_factory=dict)
    # The raw model logit, kept so a site can recalibrate from its reads without re-running the model.
    logit: float | None = None
    # Cheap statistics of the input image (mlcore.input_drift.INPUT_STAT_NAMES), for input drift alarms.
    input_stats: dict[str, float] = field(default_factory=dict)


class Predictor:
    """A loaded bundle: call predict(bytes) many times; load once per process with load_predictor()."""

    def __init__(self, bundle: Bundle) -> None:
        if bundle.serving is None:
            raise BundleError(f"Model bundle {bundle.path.name}: loaded without its serving artifacts")
        self.bundle = bundle
        self.bundle_dir = bundle.path
        self.metadata = bundle.metadata
        self.serving = bundle.serving
        self.runner = LiteRTRunner(bundle.file("model.tflite"))
        head = np.load(bundle.file("head.npz"))
        self.logit_weights = head["kernel"].reshape(-1).astype(np.float32)
        self.gate = Gate.load(bundle.file("gate.npz"))
        self.temperature = self.metadata.temperature
        self.bias = 0.0
        self.threshold = self.metadata.threshold
        self.band = self.metadata.indeterminate_band

    @property
    def version(self) -> str:
        """The model version every result carries."""
        return self.metadata.version

    def warm_up(self) -> None:
        """Run the whole path once so the first real request pays no allocation cost."""
        zeros = np.zeros((1, *self.runner.input_shape), dtype=np.float32)
        for _ in range(3):
            _, conv = self.runner.run(zeros)
        heatmap_png(class_activation_map(conv[0], self.logit_weights), (64, 64))

    def with_operating_point(
        self, *, temperature: float, bias: float, threshold: float, band: tuple[float, float]
    ) -> Predictor:
        """The same loaded model labelling at another operating point (a site's profile); shares the runner."""
        other = copy.copy(self)
        other.temperature, other.bias, other.threshold, other.band = temperature, bias, threshold, band
        return other

    def heatmap_level(self, conv: np.ndarray, cam: np.ndarray | None, label: str) -> np.ndarray:
        """The 0..1 map of the evidence for `label`: Grad-CAM when exported, else CAM on last_conv."""
        sign = 1.0 if label == "PNEUMONIA" else -1.0
        return (
            gradcam_map(cam, sign)
            if cam is not None
            else class_activation_map(conv, self.logit_weights, sign)
        )

    def calibrated(self, logit: float) -> float:
        """P(pneumonia) = sigmoid(logit / T + bias) (bias 0 for the bundle's own calibration)."""
        z = logit / self.temperature + self.bias
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def predict(self, data: bytes) -> PredictionResult:
        """Bytes of a JPEG/PNG/DICOM → result; InvalidImage if undecodable, RejectedImage if not a CXR."""
        start = time.perf_counter()
        decoded = decode_image(data)
        return self.predict_decoded(decoded, _started=start)

    def predict_decoded(self, decoded: DecodedImage, *, _started: float | None = None) -> PredictionResult:
        """Predict from an already decoded image (timings.decode_ms then covers preprocessing only)."""
        start = time.perf_counter() if _started is None else _started
        x = to_model_input(decoded.image)
        t_model = time.perf_counter()
        logits, conv, cam = self.runner.run_with_cam(x[np.newaxis])
        return self._finish(
            decoded, x, float(logits[0]), conv[0], cam[0] if cam is not None else None, start, t_model
        )

    def predict_batch(self, items: list[bytes]) -> list[PredictionResult | InvalidImage | RejectedImage]:
        """Many uploads, one model call; decoding and heatmaps run on THREADS threads (Pillow and zlib
        release the GIL). A bad item yields its exception in its place."""
        start = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            prepared = list(pool.map(_prepare, items))
            good = [i for i, item in enumerate(prepared) if not isinstance(item, InvalidImage)]
            t_model = time.perf_counter()
            logits, convs, cams = (
                self.runner.run_with_cam(np.stack([prepared[i][1] for i in good]))
                if good
                else (np.zeros(0), np.zeros(0), None)
            )

            def finish(k: int) -> PredictionResult | RejectedImage:
                decoded, x = prepared[good[k]]
                try:
                    cam = cams[k] if cams is not None else None
                    return self._finish(decoded, x, float(logits[k]), convs[k], cam, start, t_model)
                except RejectedImage as exc:
                    return exc

            finished = dict(zip(good, pool.map(finish, range(len(good))), strict=True))
        return [finished.get(i, item) for i, item in enumerate(prepared)]  # type: ignore[misc]

    def _finish(
        self,
        decoded: DecodedImage,
        x: np.ndarray,
        logit: float,
        conv: np.ndarray,
        cam: np.ndarray | None,
        start: float,
        t_model: float,
    ) -> PredictionResult:
        """Gate, calibrate, draw the heatmap and assemble the result."""
        t_heat = time.perf_counter()
        evidence = gather_evidence(decoded, x, conv)
        verdict = self.gate.check(evidence)
        if not verdict.accepted:
            raise RejectedImage(verdict.reason, score=verdict.score)
        p = self.calibrated(logit)
        label = "PNEUMONIA" if p >= self.threshold else "NORMAL"
        level = self.heatmap_level(conv, cam, label)
        png = heatmap_png(level, display_size(decoded.width, decoded.height, HEATMAP_MAX_SIDE))
        end = time.perf_counter()
        timings = {
            "decode_ms": (t_model - start) * 1000,
            "model_ms": (t_heat - t_model) * 1000,
            "heatmap_ms": (end - t_heat) * 1000,
            "total_ms": (end - start) * 1000,
        }
        return PredictionResult(
            probability=p,
            label=label,
            confidence=label_confidence(p, label),
            threshold=self.threshold,
            indeterminate=self.band[0] <= p <= self.band[1],
            model_version=self.version,
            heatmap_png=png,
            flags=decoded.flags,
            timings=timings,
            gate_score=verdict.score,
            image_width=decoded.width,
            image_height=decoded.height,
            image_format=decoded.format,
            meta=dict(decoded.meta),
            logit=logit,
            input_stats=input_statistics(decoded.width, decoded.height, evidence.stats),
        )


def _prepare(data: bytes) -> tuple[DecodedImage, np.ndarray] | InvalidImage:
    """Decode and preprocess one upload, or the reason it cannot be."""
    try:
        decoded = decode_image(data)
    except InvalidImage as exc:
        return exc
    return decoded, to_model_input(decoded.image)


def load_predictor(path: str | Path | None = None) -> Predictor:
    """Load and verify a bundle (None: $AIRSPACE_MODEL_BUNDLE, else models/CURRENT); BundleError says why not."""
    bundle = load_bundle(path)
    try:
        return Predictor(bundle)
    except (OSError, ValueError, KeyError) as exc:
        raise BundleError(f"Model bundle {bundle.path.name}: cannot load serving artifacts ({exc})") from exc
