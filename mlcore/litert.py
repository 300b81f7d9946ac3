"""The LiteRT runner: one interpreter over a bundle's model.tflite, giving logits and the last conv map
(and, for exports since 2026-11-27, the fine Grad-CAM map of mlcore.gradcam).

Serving (mlcore.inference), gate fitting (mlcore.gate_fit) and export parity (mlcore.export) share it;
the `ai_edge_litert` import waits for the first runner so importing this module stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# Interpreter threads; the machine is small and shared, so the default matches its two cores.
THREADS = int(os.environ.get("AIRSPACE_THREADS", "2"))


class LiteRTRunner:
    """A LiteRT interpreter returning (logits, last_conv) for a batch of model inputs."""

    def __init__(self, model_path: Path, threads: int = THREADS) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
        self._batch = 0
        self._resize(1)

    def _resize(self, batch: int) -> None:
        """(Re)allocate tensors for a batch size."""
        interpreter = self._interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(self._input, [batch, *self.input_shape], strict=False)
        interpreter.allocate_tensors()
        outputs = interpreter.get_output_details()
        self._logit = next(o["index"] for o in outputs if len(o["shape"]) == 2)
        self._conv = next(o["index"] for o in outputs if len(o["shape"]) == 4)
        # (n, H, W): the signed Grad-CAM map; absent from older exports (CAM on last_conv instead).
        self._cam = next((o["index"] for o in outputs if len(o["shape"]) == 3), None)
        self._batch = batch

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(height, width, channels) of one input."""
        return tuple(int(d) for d in self._interpreter.get_input_details()[0]["shape_signature"][1:])

    @property
    def has_gradcam(self) -> bool:
        """Whether the export carries the fine Grad-CAM map."""
        return self._cam is not None

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits (n,) and last_conv maps (n, h, w, k) for float32 inputs (n, 224, 224, 1)."""
        logits, conv, _ = self.run_with_cam(batch)
        return logits, conv

    def run_with_cam(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Logits, last_conv maps and the Grad-CAM maps (n, H, W), or None for an export without them."""
        if batch.shape[0] != self._batch:
            self._resize(batch.shape[0])
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(batch, dtype=np.float32))
        self._interpreter.invoke()
        logits = self._interpreter.get_tensor(self._logit).reshape(-1)
        cam = self._interpreter.get_tensor(self._cam).copy() if self._cam is not None else None
        return logits.copy(), self._interpreter.get_tensor(self._conv).copy(), cam
