"""`dice leaderboard`: both tracks' runs of one dataset → the ranked table and its figure.

    dice leaderboard --config config/tuned-ml100k.yaml --dataset ml100k
    dice leaderboard RUN_FOLDERS… --dataset ml100k --splits results/splits/<id>

Writes ``leaderboard_<dataset>.{csv,md,tex,html}`` into --out-dir and
``leaderboard_<dataset>.{pdf,png,csv}`` into --figures-dir (`dice.leaderboard`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dice import artefacts as art
from dice import leaderboard as lb
from dice.errors import DiceError
from dice.io import write_text
from dice.stats import LONG_TAIL_HEAD, SIGNIFICANCE

NEED = ("per_user.parquet", "topk.parquet")


def _runs(args: argparse.Namespace) -> tuple[list[Path], Path, int | None]:
    """(run folders, splits root, tuned budget) from the given files or from --config."""
    if args.runs:
        if args.splits is None:
            raise DiceError("leaderboard: give --splits (the root of the runs' split folders)")
        return list(args.runs), args.splits, args.budget
    if not args.config:
        raise DiceError("leaderboard: give the runs (metrics.json files or run folders) or --config")  # fmt: skip
    from dice.config import load_config
    from dice.plan import main_runs, main_split, run_dir, study_runs
    from dice.tracks import STUDY

    config = load_config(args.config)
    runs = main_runs(config) + (study_runs(config, STUDY) if STUDY in config["studies"] else [])
    runs = [r for r in runs if r["dataset"] == args.dataset]
    if not runs:
        raise DiceError(f"leaderboard: the config asks for no runs of dataset {args.dataset!r}")
    splits = Path(main_split(config, args.dataset).dir).parent.parent
    budget = config["hpo"]["tuned"]["budget"] if "tuned" in config["hpo"] else None
    return [Path(run_dir(r, root=str(args.runs_root))) for r in runs], splits, budget


def _out_dirs(args: argparse.Namespace) -> None:
    """--out-dir / --figures-dir default to the config's own folder (results/<config name>)."""
    from dice.plan import RESULTS, report_dir

    root = Path(report_dir(args.config) if args.config else RESULTS)
    args.out_dir = args.out_dir or root / "tables"
    args.figures_dir = args.figures_dir or root / "figures"


def cmd_leaderboard(args: argparse.Namespace) -> None:
    import logging

    for noisy in ("fontTools", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    folders, splits, budget = _runs(args)
    _out_dirs(args)
    index = lb.with_tracks(art.select(art.run_index(folders, need=NEED), dataset=args.dataset))
    k = lb.ranking_k(args.metric)
    values = lb.run_values(index, splits_root=splits, k=k, average=args.average,
                           long_tail_head=args.long_tail_head)  # fmt: skip
    if args.metric not in set(values["column"]):
        raise DiceError(f"leaderboard: the runs have no {args.average} {args.metric!r}")
    table = lb.leaderboard_frame(values, lb.per_user_tables(index), metric=args.metric,
                                 reference=args.reference)  # fmt: skip
    described = lb.describe_tracks(index, budget=budget, metric=args.metric)
    caption = f"Leaderboard ({args.dataset}; {described})."
    note = (f"Ranked per backbone and track by {args.metric} ({args.average} average); Δ against "
            f"{args.reference} tuned (faithful if untuned); * per-user Wilcoxon, † paired t-test over "
            f"seeds, each Holm-corrected over the table, p < {args.significance:g}. Popularity "
            f"bias of the top-{k}: the long tail is outside the head holding "
            f"{args.long_tail_head:.0%} of training interactions.")  # fmt: skip
    from dice import report

    stem = f"leaderboard_{args.dataset}"
    shown = lb.leaderboard_display(table, metric=args.metric, k=k, significance=args.significance)  # fmt: skip
    report.write_table(report.stem_paths(args.out_dir / stem), table, shown, caption=caption, note=note)  # fmt: skip
    from dice import plots

    fig = lb.figure(table, metric=args.metric, title=f"Leaderboard ({args.dataset})", subtitle=described)  # fmt: skip
    plots.save_figure(fig, args.figures_dir / stem, formats=tuple(args.formats))
    columns = [*lb.KEYS, "rank", args.metric, f"{args.metric} ci95", "n_seeds"]
    write_text(args.figures_dir / f"{stem}.csv", table[[c for c in columns if c in table]].to_csv(index=False))  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="faithful and tuned runs of one dataset → ranked "
                       "table (CSV, Markdown, LaTeX, HTML) and figure")  # fmt: skip
    p.add_argument("runs", type=Path, nargs="*", help="metrics.json files or run folders")
    p.add_argument("--config", type=Path, help="take the main grid and the study 'tuned' instead")
    p.add_argument("--dataset", required=True, help="dataset key")
    p.add_argument("--runs-root", type=Path, default=Path("results/runs"))
    p.add_argument("--splits", type=Path, help="root of the split folders (<root>/<dataset>/<split>)")  # fmt: skip
    p.add_argument("--budget", type=int, help="the tuned track's grid points per method (caption)")
    p.add_argument("--metric", default="recall@20", help="ranking metric (default recall@20)")
    p.add_argument("--reference", default="none", help="method tested against (tuned if run)")
    p.add_argument("--average", default=art.AVERAGE, help="metrics.json average")
    p.add_argument("--significance", type=float, default=SIGNIFICANCE)
    p.add_argument("--long-tail-head", type=float, default=LONG_TAIL_HEAD,
                   help="share of training interactions held by the popular head")  # fmt: skip
    p.add_argument("--out-dir", type=Path, help="default: results/<config name>/tables with "
                   "--config, else results/tables")  # fmt: skip
    p.add_argument("--figures-dir", type=Path, help="default: the figures folder beside it")
    p.add_argument("--formats", nargs="+", default=["pdf", "png"])
    p.set_defaults(func=cmd_leaderboard)
