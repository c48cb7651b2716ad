"""Subcommands that turn result files into the paper's tables and figures (SPEC §5).

Each artefact is regenerated alone by one command. The runs behind it are given either as files
(metrics.json files or run folders, as the Snakemake rules pass them) or as ``--config``, whose
`studies:` section names them (`dice.config.study_runs`); a missing run is an error naming it.

    dice table1 results/splits/*/cap0.9-share0.1/stats.json
    dice table2 --config config/config.yaml            (alias: dice table METRICS… --out …)
    dice table3 --config config/config.yaml --dataset ml100k
    dice discrepancy | popularity-bias --config config/config.yaml --dataset ml100k
    dice figure fig6_caps --config config/config.yaml --dataset ml100k
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dice.errors import DiceError

TABLES = Path("results/tables")
FIGURES_DIR = Path("results/figures")
PAPER = Path(__file__).resolve().parents[1] / "config" / "paper_results.yaml"
#: artefact → the config study whose runs it reads (None: the main grid, Table 2's runs)
STUDY = {"table2": None, "table3": "table3_negatives", "discrepancy": "discrepancy",
         "popularity_bias": None, "fig4_bias": "fig4_bias", "fig5a_iou": "fig5_iou",
         "fig5b_tsne": "fig5_iou", "fig6_caps": "fig6_caps", "fig7_conformity": "fig7_conformity",
         "fig8a_curriculum": "fig8a_curriculum", "fig8b_shares": "fig8b_shares"}  # fmt: skip
NEEDS = {"table2": ("per_user.parquet",), "table3": ("per_user.parquet",),
         "popularity_bias": ("topk.parquet",), "fig5a_iou": ("topk.parquet",)}  # fmt: skip


def run_table(args: argparse.Namespace, artefact: str):
    """The run index of `artefact` (of --dataset, if given) from files or from --config."""
    from dice import artefacts as art

    if args.runs:
        index = art.run_index(args.runs, need=NEEDS.get(artefact, ()))
    elif args.config:
        from dice.config import load_config, main_runs, run_dir, study_runs

        config = load_config(args.config)
        study = STUDY[artefact]
        runs = main_runs(config) if study is None else study_runs(config, study)
        runs = [r for r in runs if args.dataset in (None, r["dataset"])]
        if not runs:
            raise DiceError(f"{artefact}: the config asks for no runs of dataset {args.dataset!r}")
        index = art.run_index([run_dir(r, root=str(args.runs_root)) for r in runs],
                              need=NEEDS.get(artefact, ()))  # fmt: skip
    else:
        raise DiceError(
            f"{artefact}: give the runs (metrics.json files or run folders) or --config"
        )
    if args.dataset is None and index["dataset"].nunique() > 1 and artefact != "table2":
        raise DiceError(f"{artefact}: runs of several datasets given; pick one with --dataset")
    dataset = args.dataset or index["dataset"].iloc[0]
    return index if artefact == "table2" else art.select(index, dataset=dataset), dataset


def cmd_table1(args: argparse.Namespace) -> None:
    from dice import artefacts as art
    from dice import report

    files = args.stats
    if not files and args.config:
        from dice.config import load_config, split_id

        config = load_config(args.config)
        files = [Path("results/splits") / d / split_id(config["split"]) / "stats.json"
                 for d in config["datasets"]]  # fmt: skip
    if not files:
        raise DiceError("table1: give stats.json files of the splits, or --config")
    table = report.table1_frame(files, paper=art.load_paper(args.paper))
    report.write_table(args.out_dir / "table1", table, report.table1_display(table),
                       caption="Table 1: dataset statistics (entropy of item counts, natural log).",
                       note="Ours: the main split's stats.json; paper: DICE Table 1.")  # fmt: skip


def cmd_table2(args: argparse.Namespace) -> None:
    from dice import artefacts as art
    from dice.report import write_table2

    index, _ = run_table(args, "table2")
    out = {s: getattr(args, n) or (args.out_dir / f"table2.{s}" if args.out_dir else None)
           for s, n in (("csv", "out"), ("md", "markdown"), ("tex", "latex"), ("html", "html"))}  # fmt: skip
    if out["csv"] is None:
        raise DiceError("table2: give --out (CSV path) or --out-dir")
    write_table2(index["run"], out_csv=out["csv"], out_md=out["md"], out_tex=out["tex"],
                 out_html=out["html"], paper=art.load_paper(args.paper), average=args.average)  # fmt: skip


#: per-dataset tables: name → (caption, note); built by report.<name>_frame, shown by _display
DATASET_TABLES = {
    "table3": ("Table 3: PNSM vs random negative sampling",
               "DICE cells: * = better than random negatives by a per-user paired Wilcoxon test, "
               "† = by a paired t-test over seeds (Holm-corrected over the table, p < 0.05)."),
    "discrepancy": ("Discrepancy loss: L1-inv, L2-inv, dCor (DICE §4.4.4)",
                    "Paper: dCor about 100 s per epoch, L1-/L2-inv about 44 s (hardware unstated)."),
    "popularity_bias": ("Popularity bias of each model's top-K",
                        "Popularity = training (normal + intervened) counts; long tail = items "
                        "outside the head that holds 20 % of training interactions."),
}  # fmt: skip


def cmd_dataset_table(args: argparse.Namespace) -> None:
    from dice import artefacts as art
    from dice import report

    index, dataset = run_table(args, args.table)
    if args.table == "popularity_bias":
        table = report.popularity_frame(index, splits_root=args.splits, ks=args.ks)
        display = report.popularity_display(table)
    else:
        options = {"paper": art.load_paper(args.paper), "average": args.average}
        table = getattr(report, f"{args.table}_frame")(index, **options)
        display = getattr(report, f"{args.table}_display")(table)
    caption, note = DATASET_TABLES[args.table]
    tests = (
        report.tests_display(table, versus="random negatives") if args.table == "table3" else None
    )
    report.write_table(args.out_dir / f"{args.table}_{dataset}", table, display,
                       caption=f"{caption} ({dataset}).", note=note, tests=tests)  # fmt: skip


def _figure(args: argparse.Namespace) -> None:
    import logging

    for noisy in ("fontTools", "openTSNE", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from dice import artefacts as art
    from dice import plots
    from dice.io import write_text
    from dice.stats import linear_separation

    index, dataset = run_table(args, args.name)
    if args.name in ("fig5b_tsne", "fig7_conformity"):
        if args.name == "fig5b_tsne":
            run = art.first_run(index, "dice", artefact="fig5b_tsne")
            frame = art.tsne_items(run, tables=("interest", "conformity"), splits_root=args.splits)
            boundary = linear_separation(frame[["x", "y"]].to_numpy(), frame["table"].to_numpy())
            fig = plots.fig5b_tsne(frame, boundary, dataset=dataset)
            print(json.dumps({"linear_classifier": boundary}))
        else:
            frame = art.conformity_tsne_frame(index, splits_root=args.splits)
            fig = plots.fig7_conformity(frame, dataset=dataset)
    else:
        build = {"fig5a_iou": art.iou_frame, "fig8a_curriculum": art.curriculum_frame}
        frame = build.get(args.name, art.curve_frame)(index)
        if args.name == "fig8b_shares":
            frame = frame.sort_values("share")
        fig = getattr(plots, args.name)(frame, dataset=dataset)
    stem = args.out_dir / f"{args.name}_{dataset}"
    plots.save_figure(fig, stem, formats=tuple(args.formats))
    write_text(
        stem.with_suffix(".csv"), frame.drop(columns=["run"], errors="ignore").to_csv(index=False)
    )


def _run_options(p: argparse.ArgumentParser, *, dataset: bool = True) -> None:
    p.add_argument("runs", type=Path, nargs="*", help="metrics.json files or run folders")
    p.add_argument("--config", type=Path, help="take the runs from this config's studies instead")
    p.add_argument("--runs-root", type=Path, default=Path("results/runs"))
    p.add_argument("--paper", type=Path, default=PAPER, help="the paper's values (YAML)")
    p.add_argument("--average", default="test_all_users",
                   help="metrics.json average (default: all users, the official divisor)")  # fmt: skip
    if dataset:
        p.add_argument("--dataset", help="dataset key (needed when the runs span several)")
    else:
        p.set_defaults(dataset=None)


def cmd_disentanglement(args: argparse.Namespace) -> None:
    """Synthetic runs' `disentanglement` scores → table (mean, sd over seeds) and figure."""
    import pandas as pd

    from dice import report
    from dice.disentangle import disentanglement_rows, disentanglement_table, plot_disentanglement
    from dice.io import read_json, write_text
    from dice.plots import save_figure

    strengths = json.loads(args.strengths) if args.strengths else {}
    rows = []
    for path in args.metrics:
        metrics, run = read_json(path), read_json(Path(path).with_name("run.json"))
        if "disentanglement" not in metrics:
            raise DiceError("no disentanglement scores (not a synthetic run?)", path=path)
        context = {k: run["context"][k] for k in ("dataset", "backbone", "method", "seed")}
        context["strength"] = strengths.get(context["dataset"], 1.0)
        rows += disentanglement_rows(metrics["disentanglement"], **context)
    frame = pd.DataFrame(rows)
    table = disentanglement_table(frame)
    write_text(args.out_dir / "disentanglement.csv", frame.to_csv(index=False))
    report.write_table(args.out_dir / "disentanglement", frame, table.reset_index(),
                       caption="Disentanglement scores on synthetic data with known causes.",
                       note="Per-user Spearman correlations over non-training items; "
                            "counterfactual test drawn with conformity switched off.")  # fmt: skip
    save_figure(plot_disentanglement(frame), args.figures_dir / "disentanglement")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("disentanglement", help="synthetic runs → disentanglement table and figure")
    p.add_argument("metrics", type=Path, nargs="+", help="metrics.json of synthetic runs")
    p.add_argument("--strengths", help="JSON {dataset: conformity strength}")
    p.add_argument("--out-dir", type=Path, default=TABLES)
    p.add_argument("--figures-dir", type=Path, default=FIGURES_DIR)
    p.set_defaults(func=cmd_disentanglement)

    p = sub.add_parser("table1", help="split stats.json files → Table 1 (dataset statistics)")
    p.add_argument(
        "stats", type=Path, nargs="*", help="results/splits/{dataset}/{split}/stats.json"
    )
    p.add_argument("--config", type=Path, help="take the main split of every dataset instead")
    p.add_argument("--paper", type=Path, default=PAPER)
    p.add_argument("--out-dir", type=Path, default=TABLES)
    p.set_defaults(func=cmd_table1)

    for name in ("table2", "table"):
        p = sub.add_parser(name, help="main-grid runs → Table 2 (CSV, Markdown, LaTeX, HTML)")
        _run_options(p, dataset=False)
        p.add_argument("--out", type=Path, help="CSV path")
        p.add_argument("--markdown", type=Path)
        p.add_argument("--latex", type=Path)
        p.add_argument("--html", type=Path)
        p.add_argument("--out-dir", type=Path, help="write table2.{csv,md,tex,html} here")
        p.set_defaults(func=cmd_table2)

    for name, (caption, _) in DATASET_TABLES.items():
        p = sub.add_parser(name.replace("_", "-"), help=f"{caption} (one dataset)")
        _run_options(p)
        p.add_argument("--out-dir", type=Path, default=TABLES)
        p.add_argument("--splits", type=Path, default=Path("results/splits"))
        p.add_argument("--ks", type=int, nargs="+", default=[20, 50])
        p.set_defaults(func=cmd_dataset_table, table=name)

    p = sub.add_parser("figure", help="runs → one paper figure of one dataset (PDF, PNG, CSV)")
    p.add_argument("name", choices=[n for n in STUDY if n.startswith("fig")])
    _run_options(p)
    p.add_argument("--splits", type=Path, default=Path("results/splits"))
    p.add_argument("--out-dir", type=Path, default=FIGURES_DIR)
    p.add_argument("--formats", nargs="+", default=["pdf", "png"])
    p.set_defaults(func=_figure)
