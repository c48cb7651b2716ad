"""Result files → the paper's tables (the comparison with the paper is `dice.paper.with_paper`).

Each `*_frame` builds one tidy table (one row per cell) from a run index (`dice.artefacts`);
`display` turns any of them into the wide display (rows by dataset, backbone and method, one
column per metric@k); `write_table` writes the tidy CSV and the display as Markdown, LaTeX and
HTML through pandas. Cells are mean ± Student-t interval over seeds of the all-users average
(the official code's divisor, the one that compares with the paper). Also the disentanglement
table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from dice import artefacts as art
from dice import stats
from dice.errors import DiceError
from dice.io import read_json, write_text
from dice.paper import with_paper

TABLE2_COLUMNS = [
    "dataset", "split", "backbone", "method", "metric", "k", "mean", "std", "ci95", "n_seeds",
]  # fmt: skip
TEST_COLUMNS = [
    "best_baseline", "versus_mean", "p_seeds", "p_seeds_holm", "p_users", "p_users_holm",
]  # fmt: skip
TABLE2_METHODS = ("none", "ips", "ips-c", "ips-cn", "ips-cnsr", "cause", "dice")  # DICE Table 2
#: column order within one K: the paper's Recall, HR, NDCG; then the popularity-bias metrics
COLUMN_ORDER = {"recall": 0, "hr": 1, "ndcg": 2, "avg_popularity": 3, "long_tail_share": 4,
                "gini": 5, "coverage": 6}  # fmt: skip
METRIC_NAMES = {"recall": "Recall", "hr": "HR", "ndcg": "NDCG", "avg_popularity": "Avg. pop.",
                "long_tail_share": "Long-tail share", "gini": "Gini", "coverage": "Coverage",
                "seconds_per_epoch": "s / epoch"}  # fmt: skip
#: rows: the paper's Table 2 order, the methods after DICE before it (DICE last, as in the paper)
METHOD_ORDER = (*TABLE2_METHODS[:-1], "pd", "pda", "macr", "rel-mf", "bc-loss", "dice")
ORDER = {
    "backbone": {"mf": 0, "lightgcn": 1},
    "method": {m: i for i, m in enumerate(METHOD_ORDER)},
}


# --- table frames --------------------------------------------------------------------------------


def table1_frame(stats_files: Iterable[str | Path], *, paper: Mapping) -> pd.DataFrame:
    """Table 1: our split statistics (…/{dataset}/{split}/stats.json) and the paper's rows."""
    rows = []
    for path in map(Path, stats_files):
        if not path.exists():
            raise DiceError("split statistics are missing (rerun the split stage)", path=path)
        s = read_json(path)
        rows.append({"dataset": path.parent.parent.name, "split": path.parent.name,
                     "source": "ours", "users": s["users"], "items": s["items"],
                     "interactions": s["interactions"], "entropy_train": s["entropy"]["train"],
                     "entropy_test": s["entropy"]["test"]})  # fmt: skip
    rows += [{"dataset": name, "split": "", "source": "paper", **values}
             for name, values in paper.get("table1", {}).items()]  # fmt: skip
    return pd.DataFrame(rows)


def _cells(index: pd.DataFrame, paper: Mapping, table: str, average: str) -> tuple:
    """Mean ± interval over seeds of every cell, with the paper's value (`with_paper`)."""
    values = art.metric_values(index, average=average)
    summary = stats.summarise_seeds(values, art.CELL_KEYS).drop(columns=["cap", "share"])
    return with_paper(summary, paper, table), values


def table2_frame(index: pd.DataFrame, *, paper: Mapping, average: str = art.AVERAGE) -> pd.DataFrame:  # fmt: skip
    """Table 2: every method of the main grid, paper value, gap, DICE vs best baseline tests."""
    table, values = _cells(index, paper, "table2", average)
    table = table.assign(average=average).sort_values(["dataset", "split", "backbone", "method"],
                                                       kind="stable", key=_order)  # fmt: skip
    baselines = ~table["method"].str.startswith("dice") & (table["method"] != "itempop")
    return _add_tests(table, values, index, baselines).reset_index(drop=True)


def table3_frame(index: pd.DataFrame, *, paper: Mapping, average: str = art.AVERAGE) -> pd.DataFrame:  # fmt: skip
    """Table 3: PNSM (dice) vs random negatives (dice-random), paper values, paired tests."""
    art.require_methods(index, ["dice", "dice-random"], artefact="table3")
    table, values = _cells(index, paper, "table3", average)
    table = table.assign(negatives=table["method"].map({"dice": "PNSM", "dice-random": "RANDOM"}))
    table = _add_tests(table, values, index, table["method"] == "dice-random")
    return table.drop(columns="best_baseline").reset_index(drop=True)


def discrepancy_frame(index: pd.DataFrame, *, paper: Mapping, average: str = art.AVERAGE) -> pd.DataFrame:  # fmt: skip
    """DICE §4.4.4: L1-inv / L2-inv / dCor accuracy and seconds per epoch (paper's seconds beside)."""
    art.require_methods(index, ["dice-l1", "dice-l2", "dice"], artefact="discrepancy")
    keys = ["dataset", "split", "backbone", "method"]
    accuracy = stats.summarise_seeds(art.metric_values(index, average=average), art.CELL_KEYS)
    per_run = [read_json(run / "metrics.json").get("seconds_per_epoch") for run in index["run"]]
    per_run = pd.to_numeric(pd.Series(per_run, dtype=object), errors="coerce")
    seconds = stats.summarise_seeds(index.assign(value=per_run), keys)
    seconds = seconds.assign(metric="seconds_per_epoch", k=pd.NA, paper=seconds["method"].map(
        paper.get("discrepancy_seconds_per_epoch", {})))  # fmt: skip
    table = pd.concat([accuracy, seconds], ignore_index=True).astype({"k": "Int64"})
    table = table.assign(label=table["method"].map(art.method_label))
    return table.drop(columns=["cap", "share"])


def popularity_frame(index: pd.DataFrame, *, splits_root: Path, ks: Sequence[int],
                     long_tail_head: float = stats.LONG_TAIL_HEAD) -> pd.DataFrame:  # fmt: skip
    """Popularity bias of each run's top-K (`dice.metrics.popularity_bias`), mean ± CI over seeds."""
    values = art.popularity_values(index, splits_root=splits_root, ks=ks, long_tail_head=long_tail_head)  # fmt: skip
    return stats.summarise_seeds(values, art.CELL_KEYS).drop(columns=["cap", "share"])


def disentanglement_rows(scores: Mapping, **context) -> list[dict]:
    """Long rows (context..., metric, value) from one run's scores; None values are dropped."""
    return [{**context, "metric": name, "value": float(value)} for name, value in scores.items()
            if name != "users" and value is not None]  # fmt: skip


def disentanglement_display(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds: one row per (dataset, strength, backbone, method), two columns
    (``metric``, ``metric sd``) per metric, plus ``n`` (runs averaged)."""
    keys = ["dataset", "strength", "backbone", "method"]
    summary = df.groupby([*keys, "metric"], sort=True, dropna=False)["value"].agg(["mean", "std", "count"])  # fmt: skip
    wide = summary.unstack("metric")
    table = pd.concat({"": wide["mean"], " sd": wide["std"]}, axis=1)
    table.columns = [f"{m}{suffix}" for suffix, m in table.columns]
    table = table[[c for m in wide["mean"].columns for c in (m, f"{m} sd")]]
    return table.assign(n=wide["count"].max(axis=1).astype("int64")).reset_index()


def _order(column: pd.Series) -> pd.Series:
    """Sort key: backbones MF first, methods in the paper's Table 2 order, the rest after."""
    return column.map(ORDER[column.name]).fillna(99) if column.name in ORDER else column


def _add_tests(table: pd.DataFrame, values: pd.DataFrame, index: pd.DataFrame,
               versus: pd.Series) -> pd.DataFrame:  # fmt: skip
    """Per column (dataset × split × backbone × metric@k): DICE vs the cell of highest mean among
    the `versus` rows, tested over seeds and users on DICE's row; Holm over all pairs."""
    table = table.assign(**{c: np.nan for c in TEST_COLUMNS}).astype({"best_baseline": object})
    users: dict[tuple, pd.DataFrame] = {}
    for _, cells in table.groupby(["dataset", "split", "backbone", "metric", "k"], sort=False):
        dice, other = cells[cells["method"] == "dice"], cells[versus[cells.index]]
        if len(dice) and len(other):
            best = other.loc[other["mean"].idxmax()]
            tests = _pair_test(dice.iloc[0], best, values, index, users)
            table.loc[dice.index[0], ["best_baseline", "versus_mean", "p_seeds", "p_users"]] = [
                best["method"], best["mean"], *tests]  # fmt: skip
    for column in ("p_seeds", "p_users"):
        table[f"{column}_holm"] = stats.holm(table[column].to_numpy(np.float64))
    return table


def _pair_test(a: pd.Series, b: pd.Series, values: pd.DataFrame, index: pd.DataFrame,
               users: dict) -> tuple[float, float]:  # fmt: skip
    keys = ["dataset", "split", "backbone", "method"]

    def seeds_of(cell: pd.Series) -> pd.Series:
        mask = np.logical_and.reduce([values[k] == cell[k] for k in [*keys, "metric", "k"]])
        return values[mask].set_index("seed")["value"]

    def users_of(cell: pd.Series) -> pd.DataFrame:
        key = tuple(cell[k] for k in keys)
        if key not in users:
            users[key] = art.per_user(
                index[np.logical_and.reduce([index[k] == cell[k] for k in keys])]
            )
        return users[key]

    sa, sb = seeds_of(a), seeds_of(b)
    seeds, name = sa.index.intersection(sb.index), f"{a['metric']}@{a['k']}"
    ua, ub = (stats.seed_mean_per_user(users_of(c), name, seeds=seeds) for c in (a, b))
    common = ua.index.intersection(ub.index)
    return stats.paired_seed_test(sa, sb), stats.wilcoxon_users(ua[common], ub[common])


# --- display -------------------------------------------------------------------------------------

#: decimals of a cell's mean and interval by metric (4 otherwise)
DIGITS = {"avg_popularity": 1, "seconds_per_epoch": 1, "long_tail_share": 3, "gini": 3, "coverage": 3}  # fmt: skip


def cell_text(mean: float, ci: float, *, digits: int = 4) -> str:
    """``mean`` or ``mean ± ci`` (no interval with one seed)."""
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f}" if pd.isna(ci) else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def _metric_name(r: pd.Series) -> str:
    name = METRIC_NAMES.get(r["metric"], r["metric"])
    return name if pd.isna(r["k"]) else f"{name}@{r['k']}"


def _named(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(Dataset=table["dataset"], Backbone=table["backbone"].map(art.BACKBONE_LABELS),
                        Method=table["method"].map(art.method_label))  # fmt: skip


def _cell(r: pd.Series, *, significance: float) -> str:
    """``mean ± ci``, the paper's value (``(paper, gap)``; seconds: ``(paper ≈ s)``), the marks."""
    text = cell_text(r["mean"], r["ci95"], digits=DIGITS.get(r["metric"], 4))
    if not pd.isna(r.get("paper", np.nan)):
        seconds = r["metric"] == "seconds_per_epoch"
        text += f" (paper ≈ {r['paper']:.0f})" if seconds else f" ({r['paper']:.4f}, {r['gap']:+.1%})"  # fmt: skip
    better = r["mean"] > r.get("versus_mean", np.nan)
    text += "*" if better and r.get("p_users_holm", np.nan) < significance else ""
    return text + ("†" if better and r.get("p_seeds_holm", np.nan) < significance else "")


def display(table: pd.DataFrame, *, rows: Sequence[str] = ("Dataset", "Backbone", "Method"),
            significance: float = stats.SIGNIFICANCE) -> pd.DataFrame:  # fmt: skip
    """Wide display of a cell table: one row per `rows` value (also ``Negatives`` of Table 3,
    ``Discrepancy``), one column per metric@k in the paper's order, cells `_cell`."""
    table = _named(table.rename(columns={"negatives": "Negatives", "label": "Discrepancy"}))
    table = table.assign(_rank=table["metric"].map(COLUMN_ORDER).fillna(len(COLUMN_ORDER)),
                         _k=table["k"].fillna(10**9)).sort_values(["_k", "_rank"], kind="stable")  # fmt: skip
    cell = partial(_cell, significance=significance)
    long = table.assign(_col=table.apply(_metric_name, axis=1), _cell=table.apply(cell, axis=1))
    wide = long.pivot_table(index=list(rows), columns="_col", values="_cell", aggfunc="first", sort=False)  # fmt: skip
    return wide[list(dict.fromkeys(long["_col"]))].reset_index().rename_axis(columns=None)


def marks_note(versus: str, significance: float) -> str:
    """What the marks `*` and `†` of a DICE cell mean."""
    return (f"DICE cells: * = better than {versus} by a per-user paired Wilcoxon test, † = by a "
            f"paired t-test over seeds (each Holm-corrected over the table, p < {significance:g}).")  # fmt: skip


def table1_display(table: pd.DataFrame) -> pd.DataFrame:
    """Counts with thousands separators, entropies with two decimals."""
    shown = table.assign(**{c: table[c].map("{:,.0f}".format) for c in ("users", "items", "interactions")},
                         **{c: table[c].map("{:.2f}".format) for c in ("entropy_train", "entropy_test")})  # fmt: skip
    return shown.rename(columns={"dataset": "Dataset", "source": "Source", "users": "Users",
                                 "items": "Items", "interactions": "Interactions",
                                 "entropy_train": "Ent. train", "entropy_test": "Ent. test"}).drop(columns="split")  # fmt: skip


def tests_display(table: pd.DataFrame, *, versus: str | None = None) -> pd.DataFrame:
    """The tests behind the marks, one row per tested cell (versus: the ``best_baseline`` column
    where there is one, else `versus`), with the direction of each: DICE's mean minus the
    compared cell's, and whether DICE is better or worse there."""
    tested = table[table["p_seeds"].notna() | table["p_users"].notna()]
    if tested.empty:
        return pd.DataFrame()
    tested = _named(tested.assign(_rank=tested["metric"].map(COLUMN_ORDER)).sort_values(
        ["dataset", "split", "backbone", "k", "_rank"], kind="stable", key=_order))  # fmt: skip
    diff = tested["mean"] - tested["versus_mean"]
    direction = np.where(diff > 0, "better", np.where(diff < 0, "worse", "equal"))
    return pd.DataFrame({
        "Dataset": tested["Dataset"], "Backbone": tested["Backbone"],
        "Metric": tested.apply(_metric_name, axis=1),
        "Versus": tested["best_baseline"].map(art.method_label) if "best_baseline" in tested else versus,
        "DICE − versus": [f"{d:+.4f} ({w})" for d, w in zip(diff, direction, strict=True)],
        "p seeds (Holm)": tested["p_seeds_holm"].map(_p), "p users (Holm)": tested["p_users_holm"].map(_p),
    })  # fmt: skip


def _p(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3g}"


# --- writing -------------------------------------------------------------------------------------

_TEX = {"±": r"$\pm$", "†": r"$^\dagger$", "–": "--", "−": "-", "≈": r"$\approx$", "α": r"$\alpha$",
        "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "<": "$<$", ">": "$>$"}  # fmt: skip


def _latex(wide: pd.DataFrame, *, caption: str, label: str) -> str:
    """A booktabs ``table`` of the display frame (pandas' LaTeX escaping, then symbols)."""
    styler = wide.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)  # fmt: skip
    caption = re.sub(r"[&%$#_{}]", lambda m: "\\" + m.group(0), caption)
    tex = styler.to_latex(hrules=True, position="t", position_float="centering", label=label, caption=caption)  # fmt: skip
    return re.sub("|".join(_TEX), lambda m: _TEX[m.group(0)], tex)


def render(wide: pd.DataFrame, *, caption: str, label: str, note: str = "",
           tests: pd.DataFrame | None = None) -> dict[str, str]:  # fmt: skip
    """The display table (and its tests, if any) as Markdown, LaTeX and HTML text."""
    md = f"**{caption}**\n\n{wide.to_markdown(index=False, disable_numparse=True)}\n\n{note}\n"
    uuid = re.sub(r"\W", "_", label)  # fixed element ids: the same table gives the same HTML
    html = f"<p><b>{caption}</b></p>\n{wide.style.set_uuid(uuid).hide(axis='index').to_html()}\n<p>{note}</p>\n"  # fmt: skip
    if tests is not None and not tests.empty:
        head = "Paired tests (Holm-corrected p-values; direction: DICE minus the compared cell)"
        md += f"\n**{head}**\n\n{tests.to_markdown(index=False, disable_numparse=True)}\n"
        html += f"<p><b>{head}</b></p>\n{tests.style.set_uuid(uuid + '_tests').hide(axis='index').to_html()}\n"  # fmt: skip
    return {"md": md, "tex": _latex(wide, caption=f"{caption} {note}".strip(), label=label), "html": html}  # fmt: skip


def write_table(paths: Mapping[str, Path | None], tidy: pd.DataFrame, wide: pd.DataFrame, *,
                caption: str, note: str = "", tests: pd.DataFrame | None = None) -> None:  # fmt: skip
    """paths["csv"] (tidy) and paths["md" / "tex" / "html"] (display), each atomically; a path
    of None is skipped."""
    write_text(paths["csv"], tidy.to_csv(index=False))
    label = f"tab:{Path(paths['csv']).stem}"
    for suffix, text in render(wide, caption=caption, label=label, note=note, tests=tests).items():
        if paths.get(suffix) is not None:
            write_text(paths[suffix], text)


def stem_paths(stem: str | Path) -> dict[str, Path]:
    """stem.csv, .md, .tex, .html by suffix."""
    return {s: Path(stem).with_suffix(f".{s}") for s in ("csv", "md", "tex", "html")}
