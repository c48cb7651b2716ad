"""The leaderboard: every method per backbone on both tracks, ranked (docs/debiasing-methods.md).

One table per dataset. Rows: (backbone, track, method), the faithful track (the main grid: each
method at its published hyper-parameters) and the tuned track (``<method>-tuned`` keys, the
equal budget of `dice.tracks`), ranked within each backbone and track by the mean of the ranking
metric (validation selected it for the tuned track; default Recall@20). Cells are mean ± the
Student-t 95 % interval over seeds (`dice.stats.half_width`). Each row is tested against the
*reference*, the tuned plain backbone (``none-tuned``: the best-tuned MF-BPR / LightGCN-BPR),
by a paired t-test over common seeds and a per-user paired Wilcoxon test (each user's metric
averaged over those seeds); the p-values of the table are Holm-corrected, each test kind
separately. Beside accuracy: the popularity-bias metrics of the top-K (`dice.metrics`), and on
the simulator each method's disentanglement scores (metrics.json ``disentanglement``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dice import artefacts as art
from dice import stats
from dice.io import read_json
from dice.tracks import base_of, track_of

KEYS = ["dataset", "backbone", "track", "method"]
ACCURACY = ("recall", "hr", "ndcg")
POPULARITY = ("avg_popularity", "long_tail_share", "gini", "coverage")
TRACK_ORDER = {"tuned": 0, "faithful": 1}
LABELS = {"recall": "Recall", "hr": "HR", "ndcg": "NDCG", "avg_popularity": "Avg. pop.",
          "long_tail_share": "Long tail", "gini": "Gini", "coverage": "Coverage"}  # fmt: skip
DISENTANGLEMENT = ("interest_rank_corr", "conformity_rank_corr", "interest_conformity_rank_corr")


def with_tracks(index: pd.DataFrame) -> pd.DataFrame:
    """A run index (`dice.artefacts.run_index`) with ``track`` and ``key`` (the method key as
    run) columns, ``method`` the key without its track suffix."""
    return index.assign(track=index["method"].map(track_of), key=index["method"],
                        method=index["method"].map(base_of))  # fmt: skip


def run_values(index: pd.DataFrame, *, splits_root: Path, k: int, average: str = art.AVERAGE,
               long_tail_head: float = stats.LONG_TAIL_HEAD) -> pd.DataFrame:  # fmt: skip
    """Long rows (run keys, ``track``, ``seed``, ``column``, ``value``): accuracy at every K,
    popularity bias at `k`, disentanglement scores where a run has them."""
    runs = index[[c for c in index.columns if c not in ("track", "key")]].assign(
        method=index["key"]
    )
    accuracy = art.metric_values(runs, average=average)
    popularity = art.popularity_values(runs, splits_root=splits_root, ks=[k],
                                       long_tail_head=long_tail_head)  # fmt: skip
    frames = [f.assign(column=f["metric"] + "@" + f["k"].astype(str)) for f in (accuracy, popularity)]  # fmt: skip
    rows = []
    for run in runs.itertuples(index=False):
        scores = read_json(Path(run.run) / "metrics.json").get("disentanglement", {})
        rows += [{**run._asdict(), "column": name, "value": float(scores[name])}
                 for name in DISENTANGLEMENT if scores.get(name) is not None]  # fmt: skip
    values = pd.concat([*frames, pd.DataFrame(rows)], ignore_index=True)
    return with_tracks(values).drop(columns="key")[[*KEYS, "seed", "column", "value"]]


def leaderboard_frame(values: pd.DataFrame, per_user: dict[tuple, pd.DataFrame], *,
                      metric: str = "recall@20", reference: str = "none") -> pd.DataFrame:  # fmt: skip
    """One row per (dataset, backbone, track, method): ``<column>`` mean and ``<column> ci95``
    of every value column, ``n_seeds``, ``rank`` (1 = best mean of `metric` within backbone and
    track), and the tests of `metric` against the reference row: ``reference``, ``delta``,
    ``p_seeds``, ``p_users`` and their Holm-corrected ``*_holm``.

    `per_user` maps (dataset, backbone, track, method) to the stacked per_user.parquet of its
    runs (`dice.artefacts.per_user`); a row without it gets no per-user test.
    """
    summary = stats.summarise_seeds(values, [*KEYS, "column"])
    means = summary.pivot_table(index=KEYS, columns="column", values="mean", sort=False)
    cis = summary.pivot_table(index=KEYS, columns="column", values="ci95", sort=False, dropna=False)
    table = means.join(cis.add_suffix(" ci95")).reset_index().rename_axis(columns=None)
    seeds = values[values["column"] == metric].groupby(KEYS, sort=False)["seed"].nunique()
    table = table.merge(seeds.rename("n_seeds").reset_index(), on=KEYS)
    table["rank"] = table.groupby(["dataset", "backbone", "track"])[metric].rank(
        ascending=False, method="first").astype("int64")  # fmt: skip
    table = _tests(table, values, per_user, metric=metric, reference=reference)
    order = table["track"].map(TRACK_ORDER).fillna(9)
    return table.assign(_o=order).sort_values(["dataset", "backbone", "_o", "rank"],
                                              kind="stable").drop(columns="_o").reset_index(drop=True)  # fmt: skip


def reference_row(table: pd.DataFrame, reference: str) -> pd.Series | None:
    """The row every other is tested against: `reference` on the tuned track, else faithful."""
    for track in ("tuned", "faithful"):
        rows = table[(table["track"] == track) & (table["method"] == reference)]
        if len(rows):
            return rows.iloc[0]
    return None


def _tests(table: pd.DataFrame, values: pd.DataFrame, per_user: dict[tuple, pd.DataFrame], *,
           metric: str, reference: str) -> pd.DataFrame:  # fmt: skip
    columns = {"reference": None, "delta": np.nan, "p_seeds": np.nan, "p_users": np.nan}
    table = table.assign(**columns).astype({"reference": object})
    of_metric = values[values["column"] == metric]
    for _, rows in table.groupby(["dataset", "backbone"], sort=False):
        ref = reference_row(rows, reference)
        if ref is None:
            continue
        for at, row in rows.iterrows():
            if row["track"] == ref["track"] and row["method"] == ref["method"]:
                continue
            tests = _pair(row, ref, of_metric, per_user, metric=metric)
            table.loc[at, list(columns)] = [f"{ref['method']} ({ref['track']})",
                                            row[metric] - ref[metric], *tests]  # fmt: skip
    for column in ("p_seeds", "p_users"):
        table[f"{column}_holm"] = stats.holm(table[column].to_numpy(np.float64))
    return table


def _pair(a: pd.Series, b: pd.Series, of_metric: pd.DataFrame, per_user: dict[tuple, pd.DataFrame],
          *, metric: str) -> tuple[float, float]:  # fmt: skip
    """(paired t-test p over common seeds, per-user Wilcoxon p) of rows `a` vs `b`."""

    def seeds_of(row: pd.Series) -> pd.Series:
        mask = np.logical_and.reduce([of_metric[k] == row[k] for k in KEYS])
        return of_metric[mask].set_index("seed")["value"]

    sa, sb = seeds_of(a), seeds_of(b)
    p_seeds = stats.paired_seed_test(sa, sb)
    users = [per_user.get(tuple(row[k] for k in KEYS)) for row in (a, b)]
    if any(u is None for u in users):
        return p_seeds, float("nan")
    common = sa.index.intersection(sb.index)
    ua, ub = (stats.seed_mean_per_user(u, metric, seeds=common) for u in users)
    both = ua.index.intersection(ub.index)
    return p_seeds, stats.wilcoxon_users(ua[both], ub[both])


# --- display -------------------------------------------------------------------------------------


def _cell(mean: float, ci: float, digits: int) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f}" if pd.isna(ci) else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def _p(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3g}"


def shown_columns(table: pd.DataFrame, *, k: int) -> list[tuple[str, str, int]]:
    """(column, header, digits) of the display: accuracy and popularity bias at `k`, then the
    disentanglement scores present."""
    shown = [(f"{m}@{k}", f"{LABELS[m]}@{k}", 4) for m in ACCURACY]
    shown += [(f"{m}@{k}", f"{LABELS[m]}@{k}", 1 if m == "avg_popularity" else 3) for m in POPULARITY]  # fmt: skip
    shown += [(m, m.removesuffix("_rank_corr").replace("_", "–") + " ρ", 3) for m in DISENTANGLEMENT]  # fmt: skip
    return [c for c in shown if c[0] in table.columns]


def leaderboard_display(table: pd.DataFrame, *, metric: str = "recall@20", k: int = 20,
                        significance: float = stats.SIGNIFICANCE) -> pd.DataFrame:  # fmt: skip
    """The wide display: rank, method, cells ``mean ± ci``, Δ against the reference with the
    marks * (per-user test) and † (seed test) where the Holm-corrected p < `significance`."""
    out = pd.DataFrame({
        "Dataset": table["dataset"], "Backbone": table["backbone"].map(art.BACKBONE_LABELS),
        "Track": table["track"], "Rank": table["rank"].astype(str),
        "Method": table["method"].map(art.method_label)})  # fmt: skip
    for column, header, digits in shown_columns(table, k=k):
        ci = table.get(f"{column} ci95", pd.Series(np.nan, index=table.index))
        out[header] = [_cell(m, c, digits) for m, c in zip(table[column], ci, strict=True)]
        if column == metric:
            out[f"Δ {header}"] = [_delta(r, significance) for _, r in table.iterrows()]
            out["p seeds (Holm)"] = table["p_seeds_holm"].map(_p)
            out["p users (Holm)"] = table["p_users_holm"].map(_p)
    return out


def _delta(row: pd.Series, significance: float) -> str:
    if pd.isna(row["delta"]):
        return "reference" if row["reference"] is None else "–"
    marks = "*" if row["p_users_holm"] < significance else ""
    return f"{row['delta']:+.4f}{marks}{'†' if row['p_seeds_holm'] < significance else ''}"


def figure(table: pd.DataFrame, *, metric: str, title: str, subtitle: str):
    """Per backbone, each method's `metric` (mean ± 95 % interval) on both tracks, best first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backbones = list(dict.fromkeys(table["backbone"]))
    fig, axes = plt.subplots(1, len(backbones), figsize=(5 * len(backbones), 0.35 * table["method"].nunique() + 1.6),
                             squeeze=False, sharex=True)  # fmt: skip
    for ax, backbone in zip(axes[0], backbones, strict=True):
        rows = table[table["backbone"] == backbone]
        order = rows.groupby("method")[metric].max().sort_values().index
        y = {m: i for i, m in enumerate(order)}
        for offset, (track, marker) in zip((0.15, -0.15), (("tuned", "o"), ("faithful", "s")), strict=True):  # fmt: skip
            part = rows[rows["track"] == track]
            ax.errorbar(part[metric], [y[m] + offset for m in part["method"]],
                        xerr=part.get(f"{metric} ci95"), fmt=marker, capsize=2, label=track)  # fmt: skip
        ax.set_yticks(range(len(order)), [art.method_label(m) for m in order])
        ax.set_title(art.BACKBONE_LABELS.get(backbone, backbone))
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].legend(loc="lower right", fontsize="small")
    fig.suptitle(f"{title}\n{subtitle}", fontsize="medium")
    fig.tight_layout()
    return fig


def per_user_tables(index: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    """(dataset, backbone, track, method) → its runs' per_user.parquet stacked (with seeds)."""
    out = {}
    for key, runs in index.groupby(KEYS, sort=False):
        out[key] = art.per_user(runs)
    return out


def ranking_k(metric: str) -> int:
    """The cut-off of a metric name such as ``recall@20``."""
    return int(metric.split("@", 1)[1])


def describe_tracks(index: pd.DataFrame, *, budget: int | None, metric: str) -> str:
    """What the table shows, per track: seeds, profile (`dice.artefacts.describe`), and the
    tuned track's budget and selection metric."""
    parts = []
    for track in sorted(set(index["track"]), key=TRACK_ORDER.get):
        text = art.describe(index[index["track"] == track])
        if track == "tuned" and budget is not None:
            text += f"; {budget} grid points per method, selected on validation {metric}"
        parts.append(f"{track}: {text}")
    return ". ".join(parts)
