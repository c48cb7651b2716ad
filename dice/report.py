"""Result files → the paper's tables (SPEC §5; STYLE.md principle 15).

Each `*_frame` builds one tidy table from run folders (through `dice.artefacts`); `write_table`
writes it as CSV (tidy: one row per cell) plus a display version as Markdown, LaTeX and HTML (for
the `snakemake --report`). Cells are mean ± 95 % t-interval half-width over seeds; accuracy is
the all-users average, the official code's divisor (code §3), so that it compares with the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dice import artefacts as art
from dice import stats
from dice.errors import DiceError
from dice.io import read_json, write_text

TABLE2_COLUMNS = [
    "dataset", "split", "backbone", "method", "metric", "k", "mean", "std", "ci95", "n_seeds",
]  # fmt: skip
TEST_COLUMNS = [
    "best_baseline", "versus_mean", "p_seeds", "p_seeds_holm", "p_users", "p_users_holm",
]  # fmt: skip
METRICS = ("recall", "hr", "ndcg")
TABLE2_METHODS = ("none", "ips", "ips-c", "ips-cn", "ips-cnsr", "cause", "dice")  # DICE Table 2
#: column order within one K: the paper's Recall, HR, NDCG; then the popularity-bias metrics
COLUMN_ORDER = {"recall": 0, "hr": 1, "ndcg": 2, "avg_popularity": 3, "long_tail_share": 4,
                "gini": 5, "coverage": 6}  # fmt: skip
BACKBONE_ORDER = {"mf": 0, "lightgcn": 1}
ALPHA = 0.05  # significance level of the marks, after Holm correction
MARKS_NOTE = (
    "DICE cells: * = better than the best baseline of that column by a per-user paired Wilcoxon "
    "test, † = by a paired t-test over seeds (each Holm-corrected over the table, p < 0.05)."
)


def collect_runs(metrics_files: Iterable[str | Path], *, average: str = "test") -> pd.DataFrame:
    """One row per (run, metric@k) with the run's identity and ``value`` (metrics[`average`])."""
    values = art.metric_values(art.run_index(metrics_files), average=average)
    return values.drop(columns=["cap", "share", "run"])


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std and the 95 % t-interval half-width over seeds, per cell."""
    keys = ["dataset", "split", "backbone", "method", "metric", "k"]
    return stats.summarise_seeds(runs, keys)[TABLE2_COLUMNS]


# --- table builders ------------------------------------------------------------------------------


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
    for name, values in paper.get("table1", {}).items():
        rows.append({"dataset": name, "split": "", "source": "paper", **values})
    return pd.DataFrame(rows)


def table2_frame(
    index: pd.DataFrame, *, paper: Mapping, average: str = art.AVERAGE
) -> pd.DataFrame:
    """Table 2: every method of the main grid, paper value, gap, DICE vs best baseline tests."""
    values = art.metric_values(index, average=average)
    table = stats.summarise_seeds(values, art.CELL_KEYS)
    table = _with_paper(table, paper, "table2").assign(average=average)
    table = table.sort_values(["dataset", "split", "backbone", "method"], kind="stable", key=_order)
    pairs = _dice_pairs(table, lambda cells: cells[_is_baseline(cells["method"])])
    return _add_tests(table, values, index, pairs).reset_index(drop=True)


def table3_frame(
    index: pd.DataFrame, *, paper: Mapping, average: str = art.AVERAGE
) -> pd.DataFrame:
    """Table 3: PNSM (dice) vs random negatives (dice-random), paper values, paired tests."""
    art.require_methods(index, ["dice", "dice-random"], artefact="table3")
    values = art.metric_values(index, average=average)
    table = _with_paper(stats.summarise_seeds(values, art.CELL_KEYS), paper, "table3")
    table = table.assign(negatives=table["method"].map({"dice": "PNSM", "dice-random": "RANDOM"}))
    pairs = _dice_pairs(table, lambda cells: cells[cells["method"] == "dice-random"])
    table = _add_tests(table, values, index, pairs)
    return table.drop(columns="best_baseline").reset_index(drop=True)


def discrepancy_frame(
    index: pd.DataFrame, *, paper: Mapping, average: str = art.AVERAGE
) -> pd.DataFrame:
    """§4.4.4: L1-inv / L2-inv / dCor accuracy and seconds per epoch (paper's seconds beside)."""
    art.require_methods(index, ["dice-l1", "dice-l2", "dice"], artefact="discrepancy")
    keys = ["dataset", "split", "backbone", "method"]
    accuracy = stats.summarise_seeds(art.metric_values(index, average=average), art.CELL_KEYS)
    seconds = stats.summarise_seeds(art.run_scalar(index, "seconds_per_epoch"), keys)
    seconds = seconds.assign(metric="seconds_per_epoch", k=pd.NA, paper=seconds["method"].map(
        paper.get("discrepancy_seconds_per_epoch", {})))  # fmt: skip
    table = pd.concat([accuracy, seconds], ignore_index=True).astype({"k": "Int64"})
    return table.assign(label=table["method"].map(art.method_label)).drop(columns=["cap", "share"],
                                                                          errors="ignore")  # fmt: skip


def popularity_frame(
    index: pd.DataFrame, *, splits_root: Path, ks: Sequence[int] = (20, 50)
) -> pd.DataFrame:
    """Popularity bias of each run's top-K (`dice.metrics.popularity_bias`), mean ± CI over seeds."""
    values = art.popularity_values(index, splits_root=splits_root, ks=ks)
    return stats.summarise_seeds(values, art.CELL_KEYS).drop(columns=["cap", "share"])


def _order(column: pd.Series) -> pd.Series:
    """Sort key: backbones MF first, methods in the paper's Table 2 order, the rest after."""
    ranks = {"backbone": BACKBONE_ORDER, "method": {m: i for i, m in enumerate(TABLE2_METHODS)}}
    return column.map(ranks[column.name]).fillna(99) if column.name in ranks else column


def _dice_pairs(table: pd.DataFrame, versus: Callable[[pd.DataFrame], pd.DataFrame]) -> list:
    """(DICE row label, compared cell) per dataset × split × backbone × metric@k: the cell of
    highest mean among ``versus(cells)``."""
    pairs = []
    for _, cells in table.groupby(["dataset", "split", "backbone", "metric", "k"], sort=False):
        dice, other = cells[cells["method"] == "dice"], versus(cells)
        if len(dice) and len(other):
            pairs.append((dice.index[0], other.loc[other["mean"].idxmax()]))
    return pairs


def _is_baseline(methods: pd.Series) -> pd.Series:
    return ~methods.str.startswith("dice") & (methods != "itempop")


def _with_paper(table: pd.DataFrame, paper: Mapping, name: str) -> pd.DataFrame:
    published = [art.paper_value(paper, name, r.dataset, r.backbone, r.method, f"{r.metric}@{r.k}")
                 for r in table.itertuples()]  # fmt: skip
    table = table.assign(paper=published)
    return table.assign(gap=table["mean"] / table["paper"] - 1.0).drop(columns=["cap", "share"])


def _add_tests(table: pd.DataFrame, values: pd.DataFrame, index: pd.DataFrame,
               pairs: list[tuple[int, pd.Series]]) -> pd.DataFrame:  # fmt: skip
    """Paired tests of each (row label, other cell) pair, on that row; Holm over all pairs."""
    table = table.assign(**{c: np.nan for c in TEST_COLUMNS}).astype({"best_baseline": object})
    users: dict[tuple, pd.DataFrame] = {}
    for row, other in pairs:
        p_seeds, p_users = _pair_test(table.loc[row], other, values, index, users)
        table.loc[row, ["best_baseline", "versus_mean", "p_seeds", "p_users"]] = [
            other["method"],
            other["mean"],
            p_seeds,
            p_users,
        ]
    for column in ("p_seeds", "p_users"):
        table[f"{column}_holm"] = stats.holm(table[column].to_numpy(np.float64))
    return table


def _pair_test(a: pd.Series, b: pd.Series, values: pd.DataFrame, index: pd.DataFrame,
               users: dict) -> tuple[float, float]:  # fmt: skip
    keys = ["dataset", "split", "backbone", "method", "metric", "k"]

    def seeds_of(cell: pd.Series) -> pd.Series:
        mask = np.logical_and.reduce([values[k] == cell[k] for k in keys])
        return values[mask].set_index("seed")["value"]

    def users_of(cell: pd.Series) -> pd.DataFrame:
        key = tuple(cell[k] for k in keys[:4])
        if key not in users:
            mask = np.logical_and.reduce(
                [index[k] == v for k, v in zip(keys[:4], key, strict=True)]
            )
            users[key] = art.per_user(index[mask])
        return users[key]

    sa, sb = seeds_of(a), seeds_of(b)
    seeds = sa.index.intersection(sb.index)
    name = f"{a['metric']}@{a['k']}"
    ua = stats.seed_mean_per_user(users_of(a), name, seeds=seeds)
    ub = stats.seed_mean_per_user(users_of(b), name, seeds=seeds)
    common = ua.index.intersection(ub.index)
    return stats.paired_seed_test(sa, sb), stats.wilcoxon_users(ua[common], ub[common])


# --- display ---------------------------------------------------------------------------------


def cell_text(mean: float, ci: float, *, digits: int = 4) -> str:
    """``mean`` or ``mean ± ci`` (no interval with one seed)."""
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f}" if pd.isna(ci) else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def metric_grid(table: pd.DataFrame, *, rows: Sequence[str], cell: Callable[[pd.Series], str],
                columns: Callable[[pd.Series], str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Wide display frame: one row per `rows` value, one column per metric@k (paper order)."""
    name = columns or (
        lambda r: f"{r['metric'].capitalize().replace('Hr', 'HR').replace('Ndcg', 'NDCG')}@{r['k']}"
    )
    rank = table["metric"].map(COLUMN_ORDER).fillna(len(COLUMN_ORDER))
    table = table.assign(_rank=rank, _k=table["k"].fillna(10**9)).sort_values(
        ["_k", "_rank"], kind="stable"
    )
    long = table.assign(_col=table.apply(name, axis=1), _cell=table.apply(cell, axis=1))
    wide = long.pivot_table(index=list(rows), columns="_col", values="_cell", aggfunc="first",
                            sort=False)  # fmt: skip
    return wide[list(dict.fromkeys(long["_col"]))].reset_index().rename_axis(columns=None)


def to_markdown(wide: pd.DataFrame, *, note: str = "") -> str:
    header = "| " + " | ".join(map(str, wide.columns)) + " |"
    rule = "|" + "---|" * len(wide.columns)
    lines = ["| " + " | ".join(str(v) for v in row) + " |" for row in wide.itertuples(index=False)]
    return "\n".join([header, rule, *lines]) + "\n" + (f"\n{note}\n" if note else "")


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "±": r"$\pm$",
        "α": r"$\alpha$", "†": r"$^\dagger$", "*": r"$^*$", "–": "--", "−": "-", "<": r"$<$", ">": r"$>$",
        "≈": r"$\approx$", "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "·": r"$\cdot$",
        "{": r"\{", "}": r"\}", "$": r"\$", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip


def _tex(value: object) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(value))


def to_latex(wide: pd.DataFrame, *, caption: str, label: str) -> str:
    """A booktabs ``table`` environment of the display frame."""
    head = " & ".join(_tex(c) for c in wide.columns) + r" \\"
    body = [" & ".join(_tex(v) for v in row) + r" \\" for row in wide.itertuples(index=False)]
    return "\n".join([r"\begin{table}[t]", r"\centering", r"\small",
                      rf"\begin{{tabular}}{{{'l' * len(wide.columns)}}}", r"\toprule", head,
                      r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
                      rf"\caption{{{_tex(caption)}}}", rf"\label{{{label}}}", r"\end{table}", ""])  # fmt: skip


def render(wide: pd.DataFrame, *, caption: str, label: str, note: str = "",
           tests: pd.DataFrame | None = None) -> dict[str, str]:  # fmt: skip
    """The display table (and its tests, if any) as Markdown, LaTeX and HTML text."""
    has_tests = tests is not None and not tests.empty
    md = f"**{caption}**\n\n" + to_markdown(wide, note=note)
    html = f"<p><b>{caption}</b></p>\n{wide.to_html(index=False, border=0)}\n<p>{note}</p>\n"
    if has_tests:
        md += "\n**Paired tests (Holm-corrected p-values)**\n\n" + to_markdown(tests)
        html += f"<p><b>Paired tests (Holm-corrected p-values)</b></p>\n{tests.to_html(index=False, border=0)}\n"
    tex = to_latex(wide, caption=f"{caption} {note}".strip(), label=label)
    return {"md": md, "tex": tex, "html": html}


def write_table(stem: str | Path, tidy: pd.DataFrame, wide: pd.DataFrame, *, caption: str,
                note: str = "", tests: pd.DataFrame | None = None) -> None:  # fmt: skip
    """stem.csv (tidy) and stem.md / .tex / .html (display), each atomically."""
    stem = Path(stem)
    write_text(stem.with_suffix(".csv"), tidy.to_csv(index=False))
    texts = render(wide, caption=caption, label=f"tab:{stem.name}", note=note, tests=tests)
    for suffix, text in texts.items():
        write_text(stem.with_suffix(f".{suffix}"), text)


# --- the tables as written -----------------------------------------------------------------------


def _gap_cell(r: pd.Series) -> str:
    text = cell_text(r["mean"], r["ci95"])
    if not pd.isna(r.get("paper", np.nan)):
        text += f" ({r['paper']:.4f}, {r['gap']:+.1%})"
    better = r["mean"] > r.get("versus_mean", np.nan)
    text += "*" if better and r.get("p_users_holm", np.nan) < ALPHA else ""
    return text + ("†" if better and r.get("p_seeds_holm", np.nan) < ALPHA else "")


def _named(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(Dataset=table["dataset"], Backbone=table["backbone"].map(art.BACKBONE_LABELS),
                        Method=table["method"].map(art.method_label))  # fmt: skip


def table1_display(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.assign(**{c: table[c].map("{:,.0f}".format) for c in ("users", "items", "interactions")},
                         **{c: table[c].map("{:.2f}".format) for c in ("entropy_train", "entropy_test")})  # fmt: skip
    return shown.rename(columns={"dataset": "Dataset", "source": "Source", "users": "Users",
                                 "items": "Items", "interactions": "Interactions",
                                 "entropy_train": "Ent. train", "entropy_test": "Ent. test"}).drop(columns="split")  # fmt: skip


def table2_display(table: pd.DataFrame) -> pd.DataFrame:
    return metric_grid(_named(table), rows=["Dataset", "Backbone", "Method"], cell=_gap_cell)


def tests_display(table: pd.DataFrame, *, versus: str | None = None) -> pd.DataFrame:
    """The significance tests behind the marks, one row per tested cell.

    Args:
        versus: what DICE was compared with (default: each row's ``best_baseline``).
    """
    tested = table[table["p_seeds"].notna() | table["p_users"].notna()]
    if tested.empty:
        return pd.DataFrame()
    tested = _named(tested.assign(_rank=tested["metric"].map(COLUMN_ORDER)).sort_values(
        ["dataset", "split", "backbone", "k", "_rank"], kind="stable", key=_order))  # fmt: skip

    def p(value: float) -> str:
        return "–" if pd.isna(value) else f"{value:.3g}"

    return pd.DataFrame({
        "Dataset": tested["Dataset"], "Backbone": tested["Backbone"],
        "Metric": tested.apply(_metric_name, axis=1),
        "Versus": tested["best_baseline"].map(art.method_label) if versus is None else versus,
        "p seeds (Holm)": tested["p_seeds_holm"].map(p), "p users (Holm)": tested["p_users_holm"].map(p),
    })  # fmt: skip


def table3_display(table: pd.DataFrame) -> pd.DataFrame:
    named = _named(table).assign(Negatives=table["negatives"])
    return metric_grid(named, rows=["Dataset", "Backbone", "Negatives"], cell=_gap_cell)


def discrepancy_display(table: pd.DataFrame) -> pd.DataFrame:
    def column(r: pd.Series) -> str:
        return "s / epoch" if r["metric"] == "seconds_per_epoch" else _metric_name(r)

    def cell(r: pd.Series) -> str:
        if r["metric"] != "seconds_per_epoch":
            return cell_text(r["mean"], r["ci95"])
        paper = "" if pd.isna(r["paper"]) else f" (paper ≈ {r['paper']:.0f})"
        return cell_text(r["mean"], r["ci95"], digits=1) + paper

    named = _named(table).assign(Discrepancy=table["label"])
    return metric_grid(
        named, rows=["Dataset", "Backbone", "Discrepancy"], cell=cell, columns=column
    )


POPULARITY_NAMES = {"avg_popularity": "Avg. pop.", "long_tail_share": "Long-tail share",
                    "gini": "Gini", "coverage": "Coverage"}  # fmt: skip


def popularity_display(table: pd.DataFrame) -> pd.DataFrame:
    def cell(r: pd.Series) -> str:
        return cell_text(r["mean"], r["ci95"], digits=1 if r["metric"] == "avg_popularity" else 3)

    return metric_grid(_named(table), rows=["Dataset", "Backbone", "Method"], cell=cell,
                       columns=lambda r: f"{POPULARITY_NAMES[r['metric']]}@{r['k']}")  # fmt: skip


def _metric_name(r: pd.Series) -> str:
    return {"recall": "Recall", "hr": "HR", "ndcg": "NDCG"}.get(
        r["metric"], r["metric"]
    ) + f"@{r['k']}"


def write_table2(metrics_files: Iterable[str | Path], *, out_csv: Path, out_md: Path | None = None,
                 out_tex: Path | None = None, out_html: Path | None = None,
                 paper: Mapping | None = None, average: str = art.AVERAGE) -> pd.DataFrame:  # fmt: skip
    """Table 2 from the main grid's metrics.json files (per_user.parquet beside each)."""
    table = table2_frame(art.run_index(metrics_files), paper=paper or art.load_paper(),
                         average=average)  # fmt: skip
    note = (f"Cells: mean ± 95 % t-interval over seeds ({average} average), then (paper value, "
            f"relative gap) where the paper used the dataset. {MARKS_NOTE}")  # fmt: skip
    texts = render(table2_display(table), caption="Table 2: overall performance.",
                   label="tab:table2", note=note, tests=tests_display(table))  # fmt: skip
    write_text(out_csv, table.to_csv(index=False))
    for suffix, path in (("md", out_md), ("tex", out_tex), ("html", out_html)):
        if path is not None:
            write_text(path, texts[suffix])
    return table
