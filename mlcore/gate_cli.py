"""`python -m mlcore gate`: measure a bundle's input gate, or collect real non-chest images' evidence."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlcore.bundle import resolve_bundle_dir
from mlcore.gate_fit import evaluate_gate_rates
from mlcore.gate_real import NEGATIVES_FILE, collect_real_set
from mlcore.litert import LiteRTRunner


def cli(argv: list[str] | None = None) -> None:
    """`python -m mlcore gate --evaluate [BUNDLE]`: measure the bundle's fitted gate and print the rates."""
    parser = argparse.ArgumentParser(
        prog="python -m mlcore gate", description="Measure the input gate of a bundle."
    )
    parser.add_argument("--evaluate", action="store_true", help="measure rejection rates (the default)")
    parser.add_argument("bundle", nargs="?", help="bundle folder (default: models/CURRENT)")
    parser.add_argument("--per-kind", type=int, default=40, help="negatives per kind")
    parser.add_argument(
        "--collect",
        type=Path,
        metavar="DIR",
        help=f"store DIR/<category>/ images' evidence as {NEGATIVES_FILE}",
    )
    args = parser.parse_args(argv)
    if args.collect:
        bundle = resolve_bundle_dir(args.bundle)
        real = collect_real_set(LiteRTRunner(bundle / "model.tflite"), args.collect)
        real.save(bundle / NEGATIVES_FILE)
        print(f"{len(real.names)} images from {len(set(real.source))} sources -> {bundle / NEGATIVES_FILE}")
        return
    print(json.dumps(evaluate_gate_rates(resolve_bundle_dir(args.bundle), args.per_kind), indent=2))


if __name__ == "__main__":
    cli()
