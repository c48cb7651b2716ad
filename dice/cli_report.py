"""Subcommands that turn result files into the paper's tables and figures.

Each artefact is regenerated alone by one command. Its runs are given either as files (metrics.json
files or run folders, as the Snakemake rules pass them) or as ``--config``, whose `studies:` name
them; a missing run is an error naming it. Each artefact states what it shows (seeds, caps or
shares, profile, intervals: `dice.artefacts.describe`) in its caption or figure subtitle.

    dice table1 results/splits/*/cap0.9-share0.1/stats.json     (or: dice table1 --config …)
    dice table2 --config config/config.yaml                    (alias: dice table METRICS… --out …)
    dice table3 | discrepancy | popularity-bias --config config/config.yaml --dataset ml100k
    dice figure fig6_caps --config config/config.yaml --dataset ml100k
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from dice import artefacts as art
from dice import paper, plots, report
from dice.errors import DiceError
from dice.io import read_json, write_text
from dice.stats import LONG_TAIL_HEAD, SIGNIFICANCE, summarise_seeds

TABLES_DIR, FIGURES_DIR = Path("results/tables"), Path("results/figures")
#: artefact → the config study whose runs it reads (None: the main grid, Table 2's runs)
STUDY = {"table2": None, "table3": "table3_negatives", "discrepancy": "discrepancy",
         "popularity_bias": None, "fig4_bias": "fig4_bias", "fig5a_iou": "fig5_iou",
         "fig5b_tsne": "fig5_iou", "fig6_caps": "fig6_caps", "fig7_conformity": "fig7_conformity",
         "fig8a_curriculum": "fig8a_curriculum", "fig8b_shares": "fig8b_shares"}  # fmt: skip
NEEDS = {"table2": ("per_user.parquet",), "table3": ("per_user.parquet",),
         "popularity_bias": ("topk.parquet",), "fig5a_iou": ("topk.parquet",)}  # fmt: skip


def run_table(args: argparse.Namespace, artefact: str) -> tuple[pd.DataFrame, str]:
    """The run index of `artefact` (of --dataset, if given) from files or from --config."""
    if args.runs:
        index = art.run_index(args.runs, need=NEEDS.get(artefact, ()))
    elif args.config:
        from dice.config import load_config
        from dice.plan import main_runs, run_dir, study_runs

        config, study = load_config(args.config), STUDY[artefact]
        runs = main_runs(config) if study is None else study_runs(config, study)
        if not (runs := [r for r in runs if args.dataset in (None, r["dataset"])]):
            raise DiceError(f"{artefact}: the config asks for no runs of dataset {args.dataset!r}")
        index = art.run_index([run_dir(r, root=str(args.runs_root)) for r in runs],
                              need=NEEDS.get(artefact, ()))  # fmt: skip
    else:
        raise DiceError(f"{artefact}: give the runs (metrics.json files or run folders) or --config")  # fmt: skip
    if args.dataset is None and index["dataset"].nunique() > 1 and artefact != "table2":
        raise DiceError(f"{artefact}: runs of several datasets given; pick one with --dataset")
    dataset = args.dataset or index["dataset"].iloc[0]
    return (index if artefact == "table2" else art.select(index, dataset=dataset)), dataset


def cmd_table1(args: argparse.Namespace) -> None:
    files = args.stats
    if not files and args.config:
        from dice.config import load_config
        from dice.plan import main_split

        config = load_config(args.config)
        files = [Path(main_split(config, d).dir) / "stats.json" for d in config["datasets"]]
    if not files:
        raise DiceError("table1: give stats.json files of the splits, or --config")
    table = report.table1_frame(files, paper=paper.load_paper(args.paper))
    report.write_table(report.stem_paths(args.out_dir / "table1"), table, report.table1_display(table),
                       caption="Table 1: dataset statistics (entropy of item counts, natural log).",
                       note="Ours: each dataset's main split (stats.json); paper: DICE Table 1.")  # fmt: skip


# --- tables of runs: spec → tidy frame, display, note, paired tests ----------------------------


class Table(NamedTuple):
    """A table of runs: caption, tidy frame of (index, args), display rows, note (a format string
    of ``described``, ``average``, ``head``), and what DICE is tested against (None: no tests)."""

    caption: str
    frame: Callable[[pd.DataFrame, argparse.Namespace], pd.DataFrame]
    rows: tuple[str, ...] = ("Dataset", "Backbone", "Method")
    note: str = ""
    versus: str | None = None


def _paper_frame(build):
    return lambda index, args: build(index, paper=paper.load_paper(args.paper), average=args.average)  # fmt: skip


def _popularity(index: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    ks = args.ks or sorted(set(art.metric_values(index.iloc[:1], average=args.average)["k"]))
    return report.popularity_frame(index, splits_root=args.splits, ks=ks, long_tail_head=args.long_tail_head)  # fmt: skip


#: Table 2 spans every dataset, the others one each
TABLES = {
    "table2": Table("Table 2: overall performance.", _paper_frame(report.table2_frame),
                    note="Cells: {described} ({average} average), then (paper value, relative gap) "
                         "where the paper used the dataset.",
                    versus="the best baseline of that column"),
    "table3": Table("Table 3: PNSM vs random negative sampling", _paper_frame(report.table3_frame),
                    rows=("Dataset", "Backbone", "Negatives"), versus="random negatives"),
    "discrepancy": Table("Discrepancy loss: L1-inv, L2-inv, dCor (DICE §4.4.4)",
                         _paper_frame(report.discrepancy_frame), rows=("Dataset", "Backbone", "Discrepancy"),
                         note="Paper: dCor about 100 s per epoch, L1-/L2-inv about 44 s (hardware unstated)."),
    "popularity_bias": Table("Popularity bias of each model's top-K", _popularity,
                             note="Popularity = training (normal + intervened) counts; long tail = items "
                                  "outside the head that holds {head:.0%} of training interactions."),
}  # fmt: skip


def cmd_table(args: argparse.Namespace) -> None:
    index, dataset = run_table(args, args.table)
    spec = TABLES[args.table]
    tidy, described = spec.frame(index, args), art.describe(index)
    shown = report.display(tidy, rows=spec.rows, significance=args.significance)
    note = spec.note.format(described=described, average=args.average, head=vars(args).get("long_tail_head"))  # fmt: skip
    tests = None
    if spec.versus is not None:
        note = " ".join(filter(None, [note, report.marks_note(spec.versus, args.significance)]))
        tests = report.tests_display(tidy, versus=spec.versus)
    if args.table == "table2":
        names = {"csv": "out", "md": "markdown", "tex": "latex", "html": "html"}
        paths = {s: vars(args)[n] or (args.out_dir / f"table2.{s}" if args.out_dir else None)
                 for s, n in names.items()}  # fmt: skip
        if paths["csv"] is None:
            raise DiceError("table2: give --out (CSV path) or --out-dir")
        caption = spec.caption
    else:
        paths = report.stem_paths(args.out_dir / f"{args.table}_{dataset}")
        caption = f"{spec.caption} ({dataset}; {described})."
    report.write_table(paths, art.with_profile(tidy, index), shown, caption=caption, note=note,
                       tests=tests)  # fmt: skip


# --- figures: builder (index, args, dataset) → (figure, the CSV written beside it) ---------------


def _with_series(frame: pd.DataFrame, *, backbone_names: bool = False) -> pd.DataFrame:
    backbones = frame["backbone"] if backbone_names else [None] * len(frame)
    labels = [art.method_label(m, backbone=b) for m, b in zip(frame["method"], backbones, strict=True)]  # fmt: skip
    return frame.assign(series=frame["method"], label=labels)


def _metric_figure(plot, title: str, **options):
    def build(index: pd.DataFrame, args: argparse.Namespace, dataset: str):
        values = _with_series(art.metric_values(index, average=args.average))
        summary = _with_series(summarise_seeds(values, art.CELL_KEYS))
        fig = plot(values, title=title.format(dataset), subtitle=art.describe(index), **options)
        return fig, summary.sort_values("share") if options.get("x") == "share" else summary

    return build


def _fig5a(index: pd.DataFrame, args: argparse.Namespace, dataset: str):
    values = _with_series(art.iou_values(index), backbone_names=True)
    summary = summarise_seeds(values, ["dataset", "split", "backbone", "method", "k"])
    fig = plots.lines(values, x="k", row=None, col="backbone", x_label="Top-K", subtitle=art.describe(index),
                      y_label="IOU with ItemPop", title=f"Overlap with ItemPop ({dataset})")  # fmt: skip
    return fig, _with_series(summary, backbone_names=True)


def _fig8a(index: pd.DataFrame, args: argparse.Namespace, dataset: str):
    values = art.curriculum_values(index, average=args.average)
    values = values.assign(series=values["mode"], label=values["mode"].str.capitalize() + " learning")  # fmt: skip
    summary = summarise_seeds(values, art.CELL_KEYS).merge(
        values[["method", "alpha", "series", "label"]].drop_duplicates("method"), on="method")  # fmt: skip
    fig = plots.lines(values, x="alpha", log_x=True, x_label="initial α", x_format="{:g}".format,
                      title=f"Curriculum vs normal learning ({dataset})", subtitle=art.describe(index))  # fmt: skip
    return fig, summary


def _fig5b(index: pd.DataFrame, args: argparse.Namespace, dataset: str):
    from dice.stats import linear_separation

    run = art.first_run(index, "dice", artefact="fig5b_tsne")
    frame = art.tsne_items(run, tables=("interest", "conformity"), splits_root=args.splits)
    boundary = linear_separation(frame[["x", "y"]].to_numpy(), frame["table"].to_numpy())
    print(json.dumps({"linear_classifier": boundary}))
    subtitle = f"run {run['backbone']}/{run['method']}/seed{run['seed']}; profile {run['profile']}"
    return plots.tsne_scatter(frame, boundary=boundary, subtitle=subtitle,
                              title=f"DICE item embeddings, t-SNE ({dataset})"), frame  # fmt: skip


def _fig7(index: pd.DataFrame, args: argparse.Namespace, dataset: str):
    runs = [art.first_run(index, m, artefact="fig7_conformity") for m in ("dice", "dice-nocon")]
    frame = pd.concat([art.tsne_items(run, tables=("conformity",), splits_root=args.splits).assign(
        panel=art.method_label(run["method"])) for run in runs], ignore_index=True)  # fmt: skip
    subtitle = "; ".join(f"run {r['backbone']}/{r['method']}/seed{r['seed']}" for r in runs)
    title = f"Conformity embeddings, t-SNE ({dataset})"
    return plots.tsne_scatter(frame, title=title, subtitle=subtitle), frame


FIGURES = {
    "fig4_bias": _metric_figure(plots.bars, "Embedding vs scalar bias ({})", x="k", row="backbone"),
    "fig5a_iou": _fig5a,
    "fig5b_tsne": _fig5b,
    "fig6_caps": _metric_figure(plots.bars, "Robustness under intervention ({})", x="cap",
                                x_format=lambda c: f"cap {c:g}"),
    "fig7_conformity": _fig7,
    "fig8a_curriculum": _fig8a,
    "fig8b_shares": _metric_figure(plots.lines, "Intervened training data ({})", x="share",
                                   x_label="intervened training data", x_format=lambda s: f"{s:.0%}"),
}  # fmt: skip


def cmd_figure(args: argparse.Namespace) -> None:
    import logging

    for noisy in ("fontTools", "openTSNE", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    index, dataset = run_table(args, args.name)
    fig, frame = FIGURES[args.name](index, args, dataset)
    stem = args.out_dir / f"{args.name}_{dataset}"
    plots.save_figure(fig, stem, formats=tuple(args.formats))
    frame = art.with_profile(frame.drop(columns=["run"], errors="ignore"), index)
    write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))


def cmd_disentanglement(args: argparse.Namespace) -> None:
    """Synthetic runs' `disentanglement` scores → table (mean, sd over seeds) and figure."""
    strengths = json.loads(args.strengths) if args.strengths else {}
    rows = []
    for path in args.metrics:
        metrics, run = read_json(path), read_json(Path(path).with_name("run.json"))
        if "disentanglement" not in metrics:
            raise DiceError("no disentanglement scores (not a synthetic run?)", path=path)
        context = {k: run["context"][k] for k in ("dataset", "backbone", "method", "seed")}
        context["strength"] = strengths.get(context["dataset"], 1.0)
        context["profile"] = run.get("settings", {}).get("train", {}).get("profile")
        rows += report.disentanglement_rows(metrics["disentanglement"], **context)
    frame = pd.DataFrame(rows)
    described = art.describe(frame, unit="point")
    report.write_table(report.stem_paths(args.out_dir / "disentanglement"), frame,
                       report.disentanglement_display(frame),
                       caption=f"Disentanglement scores on synthetic data with known causes ({described}).",
                       note="Mean and sd over seeds of per-user Spearman correlations over non-training "
                            "items; counterfactual test drawn with conformity switched off.")  # fmt: skip
    plots.save_figure(plots.disentanglement(frame, subtitle=described), args.figures_dir / "disentanglement")  # fmt: skip


def _run_options(p: argparse.ArgumentParser, *, dataset: bool = True) -> None:
    p.add_argument("runs", type=Path, nargs="*", help="metrics.json files or run folders")
    p.add_argument("--config", type=Path, help="take the runs from this config's studies instead")
    p.add_argument("--runs-root", type=Path, default=Path("results/runs"))
    p.add_argument("--paper", type=Path, default=None, help="the paper's values (YAML; default: packaged)")  # fmt: skip
    p.add_argument("--average", default=art.AVERAGE,
                   help="metrics.json average (default: all users, the official divisor)")  # fmt: skip
    p.add_argument("--significance", type=float, default=SIGNIFICANCE,
                   help="Holm-corrected level of the table marks")  # fmt: skip
    if dataset:
        p.add_argument("--dataset", help="dataset key (needed when the runs span several)")
    else:
        p.set_defaults(dataset=None)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("disentanglement", help="synthetic runs → disentanglement table and figure")
    p.add_argument("metrics", type=Path, nargs="+", help="metrics.json of synthetic runs")
    p.add_argument("--strengths", help="JSON {dataset: conformity strength}")
    p.add_argument("--out-dir", type=Path, default=TABLES_DIR)
    p.add_argument("--figures-dir", type=Path, default=FIGURES_DIR)
    p.set_defaults(func=cmd_disentanglement)

    p = sub.add_parser("table1", help="split stats.json files → Table 1 (dataset statistics)")
    p.add_argument("stats", type=Path, nargs="*", help="results/splits/{dataset}/{split}/stats.json")  # fmt: skip
    p.add_argument("--config", type=Path, help="take the main split of every dataset instead")
    p.add_argument("--paper", type=Path, default=None)
    p.add_argument("--out-dir", type=Path, default=TABLES_DIR)
    p.set_defaults(func=cmd_table1)

    for name in ("table2", "table"):
        p = sub.add_parser(name, help="main-grid runs → Table 2 (CSV, Markdown, LaTeX, HTML)")
        _run_options(p, dataset=False)
        for option in ("--out", "--markdown", "--latex", "--html"):
            p.add_argument(option, type=Path, help="CSV path" if option == "--out" else None)
        p.add_argument("--out-dir", type=Path, help="write table2.{csv,md,tex,html} here")
        p.set_defaults(func=cmd_table, table="table2")

    for name in ("table3", "discrepancy", "popularity_bias"):
        p = sub.add_parser(name.replace("_", "-"), help=f"{TABLES[name].caption} (one dataset)")
        _run_options(p)
        p.add_argument("--out-dir", type=Path, default=TABLES_DIR)
        p.add_argument("--splits", type=Path, default=Path("results/splits"))
        p.add_argument("--ks", type=int, nargs="+", help="cut-offs (default: those of the runs)")
        p.add_argument("--long-tail-head", type=float, default=LONG_TAIL_HEAD,
                       help="share of training interactions held by the popular head")  # fmt: skip
        p.set_defaults(func=cmd_table, table=name)

    p = sub.add_parser("figure", help="runs → one paper figure of one dataset (PDF, PNG, CSV)")
    p.add_argument("name", choices=list(FIGURES))
    _run_options(p)
    p.add_argument("--splits", type=Path, default=Path("results/splits"))
    p.add_argument("--out-dir", type=Path, default=FIGURES_DIR)
    p.add_argument("--formats", nargs="+", default=["pdf", "png"])
    p.set_defaults(func=cmd_figure)
