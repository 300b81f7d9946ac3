"""Command line: `python -m mlcore {train,refit-head,evaluate,package,add-evaluation,compare,heatmaps,gate} ...`."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _parser() -> argparse.ArgumentParser:
    """Sub-commands and their arguments."""
    parser = argparse.ArgumentParser(prog="python -m mlcore")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model into a run folder (resumes if interrupted)")
    train.add_argument("--data", required=True)
    train.add_argument("--out", required=True)
    train.add_argument("--params")
    refit = sub.add_parser("refit-head", help="train a multi-scale CAM head on a bundle's frozen backbone")
    refit.add_argument("--base", required=True)
    refit.add_argument("--data", required=True)
    refit.add_argument("--out", required=True)
    refit.add_argument("--params")
    evaluate = sub.add_parser("evaluate", help="evaluate a bundle or run folder on a labelled folder")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--out", required=True)
    evaluate.add_argument("--title", default="")
    package = sub.add_parser("package", help="turn a run folder into models/<version>/")
    package.add_argument("--run", required=True)
    package.add_argument("--version", required=True)
    package.add_argument("--data", help="training data folder (for the distribution plots)")
    package.add_argument("--extra", action="append", default=[], help="NAME=DIR labelled folder to report")
    package.add_argument("--set-current", action="store_true")
    package.add_argument("--card-only", action="store_true", help="only regenerate MODEL_CARD.md")
    package.add_argument("--command", default="", help="the training command, recorded in the model card")
    recal = sub.add_parser("recalibrate", help="refit a run's operating point at another target sensitivity")
    recal.add_argument("--run", required=True)
    recal.add_argument("--target-sensitivity", type=float, required=True)
    recal.add_argument("--reason", required=True, help="why this target (recorded in metadata.json)")
    heatmaps = sub.add_parser("heatmaps", help="side-by-side CAM heatmaps of bundles on the same images")
    heatmaps.add_argument("--bundle", required=True)
    heatmaps.add_argument("--against", action="append", default=[], help="another bundle (repeatable)")
    heatmaps.add_argument("--out", required=True)
    add = sub.add_parser("add-evaluation", help="evaluate a packaged bundle on more folders and record them")
    add.add_argument("--bundle", required=True)
    add.add_argument("--extra", action="append", required=True, help="NAME=DIR labelled folder")
    compare = sub.add_parser("compare", help="markdown table comparing run folders (short ablations)")
    compare.add_argument("runs", nargs="+")
    compare.add_argument("--out")
    # Its own arguments are parsed by mlcore.gate_cli.cli (`python -m mlcore gate --help`).
    sub.add_parser(
        "gate", help="measure (--evaluate) or collect (--collect DIR) a bundle's input gate", add_help=False
    )
    return parser


def _compare(runs: list[str], out: str | None) -> None:
    """Print (and optionally write) the comparison table of run folders."""
    from pathlib import Path

    from mlcore.bundle import read_bundle_metadata
    from mlcore.model_card import comparison_table

    metas = {Path(r).name: read_bundle_metadata(Path(r)) for r in runs}
    site_files = {Path(r).name: Path(r) / "site_sample" / "metrics.json" for r in runs}
    sites = {n: json.loads(f.read_text()) if f.exists() else None for n, f in site_files.items()}
    table = comparison_table(metas, sites)
    if out:
        Path(out).write_text(table)
    print(table)


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "gate":
        from mlcore.gate_cli import cli

        cli(rest)
        return 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "train":
        from mlcore.train import train

        meta = train(args.data, args.out, args.params)
        print(json.dumps({k: v["value"] for k, v in meta["metrics"].items()}, indent=2))
    elif args.command == "refit-head":
        from mlcore.head_refit import refit_head

        meta = refit_head(args.base, args.data, args.out, args.params)
        print(json.dumps({k: v["value"] for k, v in meta["metrics"].items()}, indent=2))
    elif args.command == "evaluate":
        from mlcore.evaluate import evaluate_folder

        result = evaluate_folder(args.model, args.data, args.out, title=args.title)
        print(json.dumps({k: v["value"] for k, v in result["metrics"].items()}, indent=2))
    elif args.command == "recalibrate":
        from mlcore.train import recalibrate

        meta = recalibrate(args.run, args.target_sensitivity, args.reason)
        print(json.dumps({k: v["value"] for k, v in meta["metrics"].items()}, indent=2))
    elif args.command == "compare":
        _compare(args.runs, args.out)
    elif args.command == "add-evaluation":
        from pathlib import Path

        from mlcore.packaging import add_evaluations

        print(add_evaluations(Path(args.bundle), dict(item.split("=", 1) for item in args.extra)))
    elif args.command == "heatmaps":
        from pathlib import Path

        from mlcore.heatmap_compare import default_images, side_by_side

        bundles = [Path(b) for b in (*args.against, args.bundle)]
        print(side_by_side(bundles, default_images(), Path(args.out)))
    else:
        from mlcore.packaging import package_run

        if args.card_only:
            from mlcore.packaging import write_card

            print(write_card(args.run, args.version))
            return 0
        extra = dict(item.split("=", 1) for item in args.extra)
        print(
            package_run(
                args.run, args.version, args.data, extra, set_current=args.set_current, command=args.command
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
