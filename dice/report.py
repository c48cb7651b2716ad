"""Result files → tables. Pure functions of `metrics.json` + `run.json` (STYLE.md principle 15)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from dice.errors import DiceError
from dice.io import read_json, write_text

TABLE2_COLUMNS = [
    "dataset",
    "split",
    "backbone",
    "method",
    "metric",
    "k",
    "mean",
    "std",
    "ci95",
    "n_seeds",
]
METRICS = ("recall", "hr", "ndcg")


def collect_runs(metrics_files: Iterable[str | Path], *, average: str = "test") -> pd.DataFrame:
    """One row per (run, metric@k): identity from run.json, value from metrics.json[`average`]."""
    rows = []
    for path in map(Path, metrics_files):
        run_path = path.with_name("run.json")
        if not path.exists() or not run_path.exists():
            raise DiceError(
                "run result is missing (metrics.json and run.json expected)", path=path.parent
            )
        context = read_json(run_path)["context"]
        missing = {"dataset", "split", "backbone", "method", "seed"} - set(context)
        if missing:
            raise DiceError(f"run.json context lacks {sorted(missing)}", path=run_path)
        for name, value in read_json(path)[average].items():
            metric, k = name.split("@")
            rows.append({**{key: context[key] for key in ("dataset", "split", "backbone", "method", "seed")},
                         "metric": metric, "k": int(k), "value": float(value)})  # fmt: skip
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std and the 95 % t-interval half-width over seeds, per cell."""
    keys = ["dataset", "split", "backbone", "method", "metric", "k"]
    grouped = runs.groupby(keys, sort=False)["value"]
    table = grouped.agg(mean="mean", std="std", n_seeds="count").reset_index()
    table["std"] = table["std"].fillna(0.0)
    t = stats.t.ppf(0.975, np.maximum(table["n_seeds"] - 1, 1))
    table["ci95"] = np.where(
        table["n_seeds"] > 1, t * table["std"] / np.sqrt(table["n_seeds"]), np.nan
    )
    return table[TABLE2_COLUMNS]


def table2_markdown(table: pd.DataFrame) -> str:
    """Wide Markdown: one row per (dataset, split, backbone, method), one column per metric@k."""
    cell = table.apply(lambda r: _cell(r["mean"], r["ci95"]), axis=1)
    wide = table.assign(
        cell=cell, col=table["metric"].str.capitalize() + "@" + table["k"].astype(str)
    )
    wide = wide.pivot_table(index=["dataset", "split", "backbone", "method"], columns="col",
                            values="cell", aggfunc="first", sort=False)  # fmt: skip
    order = [f"{m.capitalize()}@{k}" for k in sorted(table["k"].unique()) for m in METRICS]
    wide = wide[[c for c in order if c in wide.columns]].reset_index()
    header = "| " + " | ".join(wide.columns) + " |"
    rule = "|" + "---|" * len(wide.columns)
    lines = ["| " + " | ".join(str(v) for v in row) + " |" for row in wide.itertuples(index=False)]
    note = "\nCells: mean over seeds (± 95 % t-interval half-width when there are several seeds).\n"
    return "\n".join([header, rule, *lines]) + "\n" + note


def _cell(mean: float, ci: float) -> str:
    return f"{mean:.4f}" if np.isnan(ci) else f"{mean:.4f} ± {ci:.4f}"


def write_table2(
    metrics_files: Iterable[str | Path], *, out_csv: Path, out_md: Path | None = None
) -> pd.DataFrame:
    table = summarise(collect_runs(metrics_files))
    write_text(out_csv, table.to_csv(index=False))
    if out_md is not None:
        write_text(out_md, table2_markdown(table))
    return table
