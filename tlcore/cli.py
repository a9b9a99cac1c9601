"""``python -m tlcore``: the package from the command line.

    python -m tlcore datasets                 # the embedded world and the real tier
    python -m tlcore models                   # the zoo
    python -m tlcore pretrain glyph_resnet_narrow
    python -m tlcore claims                   # every claim with its current verdict
    python -m tlcore data pets --download     # fetch a real-tier dataset (needs internet)
    python -m tlcore rank glyphs_near --models glyph_resnet_narrow glyph_resnet_wide
    python -m tlcore rank folder:/path/to/images --models resnet50 convnext_tiny --n-per-class 20
    python -m tlcore rank glyphs_near --models glyph_resnet_narrow glyph_micro --metrics all
    python -m tlcore advise glyphs_near --model glyph_resnet_narrow --n-per-class 5
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd


def _print(frame: pd.DataFrame) -> None:
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 80, "display.width", 200):
        print(frame.to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlcore", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("datasets", help="list datasets")
    commands.add_parser("models", help="list the zoo")
    pretrain = commands.add_parser("pretrain", help="pretrain (or verify the cache of) zoo models")
    pretrain.add_argument("names", nargs="+")
    claims = commands.add_parser("claims", help="every claim and its verdict from the saved results")
    claims.add_argument("--planned", action="store_true", help="include planned claims")
    fetch = commands.add_parser("data", help="load a dataset once (real tier: --download fetches it)")
    fetch.add_argument("name")
    fetch.add_argument("--download", action="store_true")
    rank = commands.add_parser("rank", help="score candidate pretrained models on a dataset, best first")
    rank.add_argument("dataset", help="a dataset name or folder:PATH (an ImageFolder tree)")
    rank.add_argument("--models", nargs="+", required=True, help="zoo or timm model names (pretrained weights)")
    rank.add_argument("--metrics", nargs="+", default=None,
                      help="default: logme h_score leep nce transrate gbc; 'all': every metric, then the baselines "
                           "(parameter count, source accuracy), labelled '(baseline)'")
    rank.add_argument("--n-per-class", type=int, default=None, help="training images per class to score on")
    rank.add_argument("--seed", type=int, default=0)
    advice = commands.add_parser("advise", help="measure a target and recommend a fine-tuning recipe (survey §7.2)")
    advice.add_argument("dataset", help="a dataset name or folder:PATH (an ImageFolder tree)")
    advice.add_argument("--model", required=True, help="the zoo or timm model you will fine-tune")
    advice.add_argument("--n-per-class", type=int, default=None, help="training images per class you will use")
    advice.add_argument("--similarity", type=float, default=None, help="a probe gain measured before (skips it)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, KeyError, FileNotFoundError) as error:  # bad input or missing data: a message, no traceback
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"python -m tlcore {args.command}: error: {message}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from . import claims as claims_module
    from . import data, models

    if args.command == "datasets":
        _print(data.list_datasets())
    elif args.command == "models":
        _print(models.list_models())
    elif args.command == "pretrain":
        for name in args.names:
            _, provenance = models.load_source_model(name)
            print(f"{name}: source val accuracy {provenance['source_val_accuracy']:.3f}, "
                  f"{provenance['seconds']:.0f} s, {models.entry_dir(models.ZOO[name])}")
    elif args.command == "claims":
        frame = claims_module.claims_frame()
        if not args.planned:
            frame = frame[frame.verdict != "planned"]
        _print(frame[["id", "section", "verdict", "key_number", "key_label"]])
    elif args.command == "data":
        kwargs = {"download": True} if args.download else {}
        dataset = data.load(args.name, "train", **kwargs)
        print(f"{args.name}: {len(dataset)} training images, {dataset.num_classes} classes")
    elif args.command == "rank":
        from .metrics import DEFAULT_METRICS, METRICS, rank_models

        every = "all" in (args.metrics or ())
        if every and len(args.metrics) > 1:
            raise ValueError("--metrics all stands alone; it already includes every metric")
        dataset = data.load(args.dataset, "train", args.n_per_class, seed=args.seed)
        candidates = {name: models.create(name, pretrained=True).eval() for name in args.models}
        metrics = tuple(METRICS) if every else args.metrics or DEFAULT_METRICS
        scores = rank_models(candidates, dataset, metrics=metrics, progress=True, baselines=every)
        if every:  # metrics in METRICS order (LogME first, the sort key), then the labelled baselines
            scores["metric"] = scores.metric.where(scores.kind == "metric", scores.metric + " (baseline)")
            order = list(dict.fromkeys(scores.metric))
            table = scores.pivot(index="model", columns="metric", values="score")[order]
        else:
            table = scores.pivot(index="model", columns="metric", values="score")
        _print(table.sort_values(table.columns[0], ascending=False).reset_index())
    elif args.command == "advise":
        from .advisor import advise

        print(advise(args.model, args.dataset, n_per_class=args.n_per_class, similarity=args.similarity))
    return 0


if __name__ == "__main__":
    sys.exit(main())
