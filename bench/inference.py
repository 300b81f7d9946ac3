"""Serving latency and throughput on the full-resolution originals, against two naive baselines.

    .venv/bin/python bench/inference.py [--bundle models/airspace-cnn-1.0.1] [--data ../shared/data/originals]

Prints one table from one run: our predictor's decode+preprocess / model / heatmap / total latency (p50, p95),
sequential and batched throughput, `keras.Model.predict` per image, loading the model per request, and the
CPU cost and size of the heatmap PNG served against the RGBA PNG it replaced.
Threads are limited to the machine's 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import struct
import sys
import time
import zlib
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from mlcore.bundle import resolve_bundle_dir  # noqa: E402
from mlcore.config import SHARED_DATA_DIR  # noqa: E402
from mlcore.decoding import decode_image  # noqa: E402
from mlcore.errors import RejectedImage  # noqa: E402
from mlcore.heatmap import (  # noqa: E402
    HEATMAP_MAX_SIDE,
    _chunk,
    class_activation_map,
    heatmap_overlay,
    heatmap_png,
)
from mlcore.image import display_size  # noqa: E402
from mlcore.inference import Predictor, load_predictor  # noqa: E402
from mlcore.preprocessing import to_model_input  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 of a list of milliseconds."""
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def bench_predictor(predictor: Predictor, uploads: list[bytes]) -> dict[str, list[float]]:
    """Per-stage timings of predict(bytes) on every upload (rejections counted, not timed)."""
    stages: dict[str, list[float]] = {
        k: [] for k in ("decode_ms", "model_ms", "heatmap_ms", "total_ms", "wall_ms")
    }
    stages["rejected"] = []
    for data in uploads:
        start = time.perf_counter()
        try:
            result = predictor.predict(data)
        except RejectedImage:
            stages["rejected"].append(1.0)
            continue
        stages["wall_ms"].append((time.perf_counter() - start) * 1000)
        for key, value in result.timings.items():
            stages[key].append(value)
    return stages


def throughput(predictor: Predictor, uploads: list[bytes], batch: int) -> tuple[float, float]:
    """Images per second: one at a time, and in batches of `batch`."""
    start = time.perf_counter()
    for data in uploads:
        with contextlib.suppress(RejectedImage):
            predictor.predict(data)
    sequential = len(uploads) / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(uploads), batch):
        predictor.predict_batch(uploads[i : i + batch])
    return sequential, len(uploads) / (time.perf_counter() - start)


def rgba_heatmap_png(cam: np.ndarray, size: tuple[int, int]) -> bytes:
    """The previous encoder (before #17's load work): the coloured RGBA overlay, 4 bytes a pixel."""
    rgba = np.asarray(heatmap_overlay(cam, size))
    height, width, _ = rgba.shape
    raw = np.zeros((height, width * 4 + 1), dtype=np.uint8)
    raw[:, 1:] = rgba.reshape(height, -1)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"".join((b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header),
                     _chunk(b"IDAT", zlib.compress(raw.tobytes(), 1)), _chunk(b"IEND", b"")))  # fmt: skip


def bench_heatmap_encoders(predictor: Predictor, uploads: list[bytes]) -> dict[str, tuple[float, float]]:
    """CPU ms per heatmap (process time, so other jobs on the machine do not count) and KiB per file:
    the indexed PNG served now against the RGBA PNG it replaced, on the same maps."""
    maps = []
    for data in uploads:
        decoded = decode_image(data)
        x = to_model_input(decoded.image)
        _, conv = predictor.runner.run(x[np.newaxis])
        cam = class_activation_map(conv[0], predictor.logit_weights)
        maps.append((cam, display_size(decoded.width, decoded.height, HEATMAP_MAX_SIDE)))
    out = {}
    for name, encode in (("indexed", heatmap_png), ("rgba", rgba_heatmap_png)):
        start, size = time.process_time(), 0
        for cam, shape in maps:
            size += len(encode(cam, shape))
        out[name] = ((time.process_time() - start) * 1000 / len(maps), size / len(maps) / 1024)
    return out


def naive_input(data: bytes) -> np.ndarray:
    """What a typical app does: full-resolution decode, RGB, resize, to grayscale."""
    with Image.open(io.BytesIO(data)) as image:
        gray = image.convert("RGB").resize((224, 224)).convert("L")
    return np.asarray(gray, dtype=np.float32)[np.newaxis, ..., np.newaxis]


def bench_keras_predict(model_path: Path, uploads: list[bytes]) -> list[float]:
    """`keras.Model.predict` per image (model already loaded), including the naive decode."""
    import keras

    model = keras.saving.load_model(model_path, compile=False)
    model.predict(naive_input(uploads[0]), verbose=0)
    samples = []
    for data in uploads:
        start = time.perf_counter()
        model.predict(naive_input(data), verbose=0)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def bench_load_per_request(model_path: Path, uploads: list[bytes]) -> list[float]:
    """Load the Keras model inside every request, then predict (the anti-pattern)."""
    import keras

    samples = []
    for data in uploads:
        start = time.perf_counter()
        model = keras.saving.load_model(model_path, compile=False)
        model.predict(naive_input(data), verbose=0)
        samples.append((time.perf_counter() - start) * 1000)
        keras.backend.clear_session()
    return samples


def limit_tensorflow_threads() -> None:
    """Pin TensorFlow to the 2 cores (must run before the first TF op)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="bundle folder (default: models/CURRENT)")
    parser.add_argument("--data", default=str(SHARED_DATA_DIR / "originals"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--predict-images", type=int, default=30, help="images for the model.predict baseline"
    )
    parser.add_argument(
        "--load-images", type=int, default=3, help="requests for the load-per-request baseline"
    )
    args = parser.parse_args()
    paths = sorted(Path(args.data).glob("**/*.jp*g"))
    if not paths:
        raise SystemExit(f"no JPEGs under {args.data}")
    uploads = [p.read_bytes() for p in paths]
    bundle = resolve_bundle_dir(args.bundle)
    predictor = load_predictor(bundle)
    predictor.warm_up()
    stages = bench_predictor(predictor, uploads)
    sequential, batched = throughput(predictor, uploads, args.batch)
    encoders = bench_heatmap_encoders(predictor, uploads)
    limit_tensorflow_threads()
    keras_ms = bench_keras_predict(bundle / "model.keras", uploads[: args.predict_images])
    load_ms = bench_load_per_request(bundle / "model.keras", uploads[: args.load_images])
    print_table(predictor, paths, stages, sequential, batched, keras_ms, load_ms, args.batch)
    for name, (ms, kib) in encoders.items():
        print(f"{f'heatmap PNG encode, {name} (CPU)':<44}{ms:>10.2f} ms/image {kib:>8.1f} KiB")


def print_table(
    predictor: Predictor,
    paths: list[Path],
    stages: dict[str, list[float]],
    sequential: float,
    batched: float,
    keras_ms: list[float],
    load_ms: list[float],
    batch: int,
) -> None:
    """Plain-text results."""
    sizes = [Image.open(p).size for p in paths]
    print(f"bundle {predictor.version} ({predictor.serving.backend}), {len(paths)} full-resolution JPEGs")
    print(f"  sizes {min(min(s) for s in sizes)}..{max(max(s) for s in sizes)} px, threads=2")
    print(f"  gate rejected {len(stages['rejected'])} of {len(paths)} (not timed)")
    print(f"{'measure':<44}{'p50 ms':>10}{'p95 ms':>10}")
    rows = [
        ("decode + preprocess", stages["decode_ms"]),
        ("model (LiteRT, one pass: logit + last_conv)", stages["model_ms"]),
        ("gate + heatmap (CAM → indexed PNG)", stages["heatmap_ms"]),
        ("total bytes → result (incl. heatmap)", stages["total_ms"]),
        ("baseline: keras Model.predict per image", keras_ms),
        ("baseline: load model per request", load_ms),
    ]
    for name, samples in rows:
        p50, p95 = percentiles(samples)
        print(f"{name:<44}{p50:>10.2f}{p95:>10.2f}")
    ours = percentiles(stages["total_ms"])[0]
    print(f"{'throughput, one at a time':<44}{sequential:>10.1f} img/s")
    print(f"{f'throughput, predict_batch({batch})':<44}{batched:>10.1f} img/s")
    print(f"{'speed-up vs Model.predict (p50)':<44}{percentiles(keras_ms)[0] / ours:>10.1f} x")
    print(f"{'speed-up vs load per request (p50)':<44}{percentiles(load_ms)[0] / ours:>10.1f} x")


if __name__ == "__main__":
    main()
