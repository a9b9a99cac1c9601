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
    python -m tlcore verify --sample 10         # recompute 10 stored outcomes from nothing and compare
    python -m tlcore verify --stale             # list stored outcomes the current code would not read
    python -m tlcore plan --images-per-second 1000  # the real tier's runs per chapter and GPU hours (README)
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
    claims.add_argument("--calibration", action="store_true",
                        help="simulate every claim's primary test under no effect and at its smallest effect of "
                             "interest; write results/tables/rule_calibration.csv")
    claims.add_argument("--n-sim", type=int, default=4000, help="simulated claims per rate (with --calibration)")
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
    advice.add_argument("--similarity", type=float, default=None,
                        help="a similarity measured before (skips the measurement)")
    check = commands.add_parser("verify", help="check the results store: every record readable and keyed by its "
                                               "configuration; recompute a random sample from nothing")
    check.add_argument("--sample", type=int, default=0, help="records to recompute (default 0: only read them all)")
    check.add_argument("--seed", type=int, default=None, help="draw this sample again (default: a fresh draw)")
    check.add_argument("--stale", action="store_true", help="list the records the current code would not read")
    check.add_argument("--store", default=None, help="the store's folder (default: the committed store)")
    planned = commands.add_parser("plan", help="every chapter's fine-tuning runs in a tier, counted without training, "
                                               "and the GPU hours they take at a stated throughput")
    planned.add_argument("--profile", default="real", help="a tier (default: real)")
    planned.add_argument("--images-per-second", type=float, default=1400.0,
                         help="training throughput to plan with (benchmarks/real_tier.py measures yours)")
    planned.add_argument("--chapters", nargs="*", default=None, help="chapter numbers (default: all)")
    planned.add_argument("--markdown", action="store_true", help="print the README's table")
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
    elif args.command == "claims" and args.calibration:
        from .claims.registry import rule_calibration
        from .results import save_table

        frame = rule_calibration(n_sim=args.n_sim)
        path = save_table(frame, "rule_calibration")
        _print(frame[["claim", "false_supported_rate", "power", "seeds", "sd", "sd_measured"]])
        worst = frame.loc[frame.false_supported_rate.idxmax()]
        print(f"highest false 'supported' rate: {worst.false_supported_rate:.4f} ({worst.claim}, {worst.seeds} seeds); "
              f"written to {path}")
        return 1 if (frame.false_supported_rate > 0.05 + 3 * frame.mc_se).any() else 0
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
    elif args.command == "verify":
        return _verify(args)
    elif args.command == "plan":
        from .studies.plan import markdown_table, plan, with_gpu_hours
        from .studies.profiles import get_profile

        frame = with_gpu_hours(plan(get_profile(args.profile), args.chapters), args.images_per_second)
        print(markdown_table(frame) if args.markdown else frame.to_string(index=False))
    return 0


def _verify(args: argparse.Namespace) -> int:
    """Exit status 1 if any record is unreadable, keyed wrongly, stale (with --stale) or recomputed differently."""
    from .runs import verify
    from .store import Store

    if args.sample < 0:
        raise ValueError(f"--sample must be >= 0, got {args.sample}")
    store = Store(args.store)
    failures = store.problems()
    print(f"{len(store)} records in {store.root} ({len(store.files())} files); {len(failures)} unreadable or "
          "keyed wrongly")
    if args.stale:
        found = verify.stale(store)
        print(f"{len(found)} stale records")
        failures += found
    if args.sample:
        here, kinds = verify.this_machine_kind(), verify.machine_kinds(store)
        others = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()) if kind != here)
        print(f"{kinds[here]} records were computed on this machine kind ({here}) and can be recomputed bit for bit "
              f"here; the others ({others or 'none'}) were not drawn")
        seed, results = verify.verify(store, args.sample, seed=args.seed, kind=here)
        for record, found in results:
            where = f"{record['file']}.jsonl {record['key']} ({record['kind']})"
            print(f"{'DIFFERS' if found else 'same   '} {where}")
            failures += [f"{where}{difference}" if difference.startswith(".") else f"{where}: {difference}"
                         for difference in found]
        print(f"recomputed {len(results)} records from nothing (draw again with --seed {seed}); "
              f"{sum(bool(found) for _, found in results)} differ")
        if len(results) < args.sample:  # named, not failed: which machine kind runs this is rarely ours to choose
            print(f"WARNING: {args.sample} records asked for, only {len(results)} drawn: the store holds no more "
                  f"from this machine kind ({here})")
    for failure in failures:
        print(f"  {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
