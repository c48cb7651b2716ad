"""The one place where our numbers meet the paper's: its published values (the packaged
dice/paper_results.yaml), the cell-by-cell comparison (`with_paper`) that Tables 2 and 3 print
and `dice verify-paper` checks (Table 2 cells within a relative band, and the claim "DICE beats
each baseline" against the seed intervals).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dice.errors import DiceError

PAPER_RESULTS = resources.files("dice") / "paper_results.yaml"
PAPER_TOLERANCE = 0.10  # a Table 2 cell reproduces if within ±10 % of the paper's value
CELL_KEYS = ["dataset", "backbone", "method", "metric", "k"]


def load_paper(path: str | Path | None = None) -> dict:
    """The paper's published numbers (the packaged dice/paper_results.yaml, or `path`)."""
    source = PAPER_RESULTS if path is None else Path(path)
    try:
        return yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DiceError(f"cannot read the paper's results ({type(err).__name__})", path=source) from None  # fmt: skip


def paper_cells(paper: Mapping, table: str) -> pd.DataFrame:
    """One row per published cell of `table` (table2 / table3) and suite dataset key: CELL_KEYS
    and ``paper`` (``datasets`` maps suite keys to the paper's names)."""
    try:
        rows = [[key, backbone, method, *cell.split("@"), float(value)]
                for key, name in paper.get("datasets", {}).items()
                for backbone, methods in paper.get(table, {}).get(name, {}).items()
                for method, cells in methods.items() for cell, value in cells.items()]  # fmt: skip
        frame = pd.DataFrame(rows, columns=[*CELL_KEYS, "paper"])
        return frame.astype({"k": "int64", "paper": "float64"})
    except (AttributeError, TypeError, ValueError) as err:
        raise DiceError(f"the paper's {table} is malformed ({type(err).__name__}: {err})") from None


def with_paper(ours: pd.DataFrame, paper: Mapping, table: str, *, side: str = "left") -> pd.DataFrame:  # fmt: skip
    """`ours` (a cell summary) with the paper's value and the relative ``gap`` = ours / paper - 1;
    side ``right`` keeps every published cell instead (NaN ``mean`` where we have none)."""
    merged = ours.merge(paper_cells(paper, table), on=CELL_KEYS, how=side)
    return merged.assign(gap=merged["mean"] / merged["paper"] - 1.0)


@dataclass
class PaperCheck:
    """Table 2 cells against the paper, and the claim "DICE beats each baseline"."""

    cells: pd.DataFrame  # CELL_KEYS, paper, mean, ci95, n_seeds, gap, status
    claims: pd.DataFrame  # dataset, backbone, baseline, holds, metrics, status
    tolerance: float
    average: str

    @property
    def ok(self) -> bool:
        return bool((self.cells["status"] == "within").all() and (self.claims["status"] == "holds").all())  # fmt: skip

    def summary(self) -> str:
        count = self.cells["status"].value_counts()
        holds = (self.claims["status"] == "holds").sum()
        return (f"verify-paper: {count.get('within', 0)}/{len(self.cells)} Table 2 cells within "
                f"±{self.tolerance:.0%} of the paper ({count.get('missing', 0)} without results); "
                f"{holds}/{len(self.claims)} claims 'DICE beats the baseline' hold")  # fmt: skip

    def markdown(self) -> str:
        cells = self.cells.assign(gap=self.cells["gap"].map(lambda g: "—" if pd.isna(g) else f"{g:+.1%}"))  # fmt: skip
        return "\n".join([
            "# Against the paper (DICE Table 2)", "", self.summary(), "",
            f"Cells: our mean over seeds of `{self.average}` (± 95 % t-interval), the paper's value, "
            f"the relative gap; `within` means |gap| <= {self.tolerance:.0%}.", "",
            cells.to_markdown(index=False, floatfmt=".4f", missingval="—"), "",
            "Claims: DICE beats the baseline on every metric; per metric `holds` needs the seed "
            "intervals apart (DICE's lower bound above the baseline's upper bound), or with one "
            "seed a higher value.", "",
            self.claims.to_markdown(index=False, missingval="—"), "",
        ])  # fmt: skip


def verify_paper(config_path: str | Path, *, paper: str | Path | None = None,
                 results: str | Path = "results/runs", tolerance: float = PAPER_TOLERANCE,
                 average: str = "test_all_users") -> PaperCheck:  # fmt: skip
    """The finished main-grid runs of `config_path` (e.g. config/paper.yaml) against the paper's
    Table 2, through `with_paper` as Table 2 itself."""
    from dice import artefacts as art
    from dice.config import load_config
    from dice.stats import summarise_seeds
    from dice.verify import run_folders

    config, published = load_config(config_path), load_paper(paper)
    datasets = list(config["datasets"])
    if not paper_cells(published, "table2")["dataset"].isin(datasets).any():
        raise DiceError("no dataset of this config is in the paper's Table 2; run config/paper.yaml",
                        path=config_path)  # fmt: skip
    done = [f for f in run_folders(config, results, main=True).values() if (f / "metrics.json").exists()]  # fmt: skip
    values = art.metric_values(art.run_index(done), average=average) if done else pd.DataFrame(
        columns=[*CELL_KEYS, "seed", "value"]).astype({"k": "int64", "value": "float64"})  # fmt: skip
    ours = summarise_seeds(values, CELL_KEYS)
    cells = with_paper(ours, published, "table2", side="right")
    cells = cells[cells["dataset"].isin(datasets)].reset_index(drop=True)
    cells = cells[[*CELL_KEYS, "paper", "mean", "ci95", "n_seeds", "gap"]]
    cells["status"] = np.where(cells["mean"].isna(), "missing",
                               np.where(cells["gap"].abs() <= tolerance, "within", "outside"))  # fmt: skip
    claims = dice_claims(ours, baselines=set(cells["method"]) - {"dice"})
    return PaperCheck(cells, claims, tolerance, average)


def dice_claims(ours: pd.DataFrame, *, baselines: set[str]) -> pd.DataFrame:
    """Per dataset, backbone and baseline: on how many metrics DICE is ahead beyond the seed
    intervals. Status ``holds`` (all), ``fails`` (DICE behind on one), else ``unproven``."""
    rows = []
    for (dataset, backbone), group in ours.groupby(["dataset", "backbone"], sort=False):
        dice = group[group["method"] == "dice"].set_index(["metric", "k"])
        for baseline in sorted(baselines & set(group["method"])) if len(dice) else []:
            base = group[group["method"] == baseline].set_index(["metric", "k"])
            pair = dice.add_suffix("_dice").join(base.add_suffix("_base"), how="inner")
            ahead = pair["mean_dice"] > pair["mean_base"]
            apart = pair["mean_dice"] - pair["ci95_dice"] > pair["mean_base"] + pair["ci95_base"]
            holds = ahead & (apart | pair["ci95_dice"].isna() | pair["ci95_base"].isna())
            status = "holds" if holds.all() else "fails" if (~ahead).any() else "unproven"
            rows.append([dataset, backbone, baseline, int(holds.sum()), len(pair), status])
    return pd.DataFrame(rows, columns=["dataset", "backbone", "baseline", "holds", "metrics", "status"])  # fmt: skip
