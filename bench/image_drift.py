"""Input drift on the images between two folders of X-rays, as the drift alarm would see them: the
per-image statistics the worker records (mlcore.input_drift, taken from the prediction's own decode) for a
reference folder and a live folder, per watched statistic PSI (reference quintiles), KS and its p-value, and
whether modelops' image_drift rule (PSI > 0.25 and KS p < 0.01/7) fires. Also the cost of building the
statistics per image (the arrays and the gate's statistics already exist; only the record is new).

    .venv/bin/python bench/image_drift.py REFERENCE_DIR LIVE_DIR [--limit 150] [--shift-live]

e.g. the training population's originals against the site sample (another population):
    .venv/bin/python bench/image_drift.py ../shared/data/originals/train ../shared/data/site_sample
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlcore.input_drift import DRIFT_FEATURES, input_statistics, window_distance  # noqa: E402

PSI_SIGNIFICANT, P_VALUE = 0.25, 0.01 / len(DRIFT_FEATURES)  # modelops.services.image_drift


def shifted(data: bytes) -> bytes:
    """The film as another site's rendering might give it: flatter (contrast x0.7) and brighter (x1.15),
    the shift the committed tests use."""
    import io

    from PIL import Image, ImageEnhance

    with Image.open(io.BytesIO(data)) as image:
        film = ImageEnhance.Contrast(image.convert("L")).enhance(0.7)
        out = io.BytesIO()
        ImageEnhance.Brightness(film).enhance(1.15).save(out, format="JPEG", quality=90)
    return out.getvalue()


def folder_stats(predictor, folder: Path, limit: int, shift: bool = False) -> list[dict[str, float]]:
    """The recorded statistics of up to `limit` images under `folder` (every class sub-folder)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng = np.random.default_rng(1337)
    chosen = [files[i] for i in sorted(rng.choice(len(files), min(limit, len(files)), replace=False))]
    out = []
    for path in chosen:
        try:
            data = path.read_bytes()
            out.append(predictor.predict(shifted(data) if shift else data).input_stats)
        except Exception:  # noqa: BLE001 - an image the gate refuses is no input to the served model
            continue
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("live", type=Path)
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--shift-live", action="store_true", help="render the live images flatter, brighter")
    args = parser.parse_args()
    from mlcore.inference import load_predictor

    predictor = load_predictor()
    reference = folder_stats(predictor, args.reference, args.limit)
    live = folder_stats(predictor, args.live, args.limit, shift=args.shift_live)
    shift = " (shifted: contrast x0.7, brightness x1.15)" if args.shift_live else ""
    print(f"reference {args.reference}: {len(reference)} images; live {args.live}{shift}: {len(live)} images")
    print(f"{'statistic':<16}{'ref median':>11}{'live median':>12}{'PSI':>8}{'KS':>7}{'KS p':>11}  alarm")
    for name in DRIFT_FEATURES:
        ref, now = [r[name] for r in reference], [r[name] for r in live]
        d = window_distance(ref, now)
        fires = d.psi > PSI_SIGNIFICANT and d.p_value < P_VALUE
        print(
            f"{name:<16}{np.median(ref):>11.4f}{np.median(now):>12.4f}{d.psi:>8.3f}{d.ks:>7.3f}"
            f"{d.p_value:>11.2e}  {'yes' if fires else 'no'}"
        )
    stats = np.zeros(8)
    start = time.process_time()
    for _ in range(10000):
        input_statistics(1500, 1200, stats)
    print(f"recording the statistics: {(time.process_time() - start) / 10000 * 1e6:.1f} CPU-us per image")


if __name__ == "__main__":
    main()
