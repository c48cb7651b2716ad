"""Figures: long frames in, a matplotlib `Figure` out (seaborn axes-level plots on a Figure of our
own: no pyplot state, no paths).

One style: each series keeps its colour (Okabe–Ito), marker, hatch and dash in every figure, so
figures also read in greyscale; bars and points are means over seeds with `dice.stats.t_interval`
as error bar where a cell has two or more seeds. Value frames carry ``series`` (style key),
``label`` (legend text), ``value`` and the columns named by `x`, `row` and `col`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from dice.stats import t_interval

RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.grid": True, "grid.alpha": 0.3,
    "axes.axisbelow": True, "axes.spines.top": False, "axes.spines.right": False,
    "hatch.linewidth": 0.6, "lines.linewidth": 1.2, "lines.markersize": 4,
    "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.bbox": "tight",
}  # fmt: skip
COLOURS = ("#D55E00", "#0072B2", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#777777", "#000000")
MARKERS, HATCHES, DASHES = "osD^vPXh*", ("", "//", "\\\\", "xx", "..", "++", "--", "oo"), "-:-.--"
#: series → style slot (colour, hatch: slot mod 8; marker mod 9; dash mod 4); the series of one
#: figure hold distinct slots mod 8, and DICE is always the solid vermillion slot 0.
SLOTS = {"dice": 0, "curriculum": 0, "none": 6, "ips": 4, "ips-c": 2, "ips-cn": 1, "ips-cnsr": 9,
         "cause": 10, "itempop": 7, "bias-u": 12, "bias-i": 3, "bias-ui": 17, "dice-int": 5,
         "dice-con": 11, "dice-random": 1, "dice-nocon": 13, "dice-l1": 4, "dice-l2": 2,
         "normal": 1}  # fmt: skip
TERTILE_COLOURS = {"popular": "#440154", "normal": "#21918C", "unpopular": "#B5DE2B"}  # viridis
TABLE_MARKERS = {"interest": "X", "conformity": "o"}  # DICE Fig. 5b: crosses / dots
BOUNDARY_COLOUR = "#CC0000"  # the paper's "red line", dashed for greyscale
#: the disentanglement scores `disentanglement` draws, one panel each, when present
DISENTANGLEMENT = ("interest_rank_corr", "conformity_rank_corr", "counterfactual_recall@20",
                   "counterfactual_ndcg@20")  # fmt: skip
PANEL_NAMES = {"recall": "Recall", "hr": "HR", "ndcg": "NDCG", "mf": "MF", "lightgcn": "LightGCN"}


def series_style(key: str, position: int = 0) -> dict:
    """Colour, marker, hatch and line style of a series (slot by position if unknown)."""
    i = SLOTS.get(key, position)
    return {"color": COLOURS[i % 8], "marker": MARKERS[i % 9], "hatch": HATCHES[i % 8],
            "linestyle": ("-", ":", "-.", "--")[i % 4]}  # fmt: skip


def _ordered(values: pd.Series) -> list:
    """Distinct panel values: numbers ascending, metrics and backbones in the paper's order."""
    distinct = list(dict.fromkeys(values))
    if all(isinstance(v, int | float | np.number) for v in distinct):
        return sorted(distinct)
    rank = {name: i for i, name in enumerate(PANEL_NAMES)}
    return sorted(distinct, key=lambda v: rank.get(v, len(rank)))


def _name(value: object) -> str:
    return f"@{value}" if isinstance(value, int | np.integer) else PANEL_NAMES.get(str(value), str(value))  # fmt: skip


def _facets(frame: pd.DataFrame, row: str | None, col: str | None, *, size: tuple = (2.4, 1.9)):
    """A Figure and (axis, rows of `frame`) per (row value, col value) panel."""
    rows = _ordered(frame[row]) if row else [None]
    cols = _ordered(frame[col]) if col else [None]
    fig = Figure(figsize=(max(size[0] * len(cols), 3.2), size[1] * len(rows) + 0.7),
                 layout="constrained")  # fmt: skip
    axes, panels = fig.subplots(len(rows), len(cols), squeeze=False), []
    for (i, r), (j, c) in ((a, b) for a in enumerate(rows) for b in enumerate(cols)):
        mask = np.ones(len(frame), bool)
        for name, value in ((row, r), (col, c)):
            mask &= (frame[name] == value).to_numpy() if name else True
        axes[i, j].set_title(" ".join(_name(v) for v in (c, r) if v is not None).replace(" @", "@"))
        panels.append((axes[i, j], frame[mask]))
    return fig, panels


def _finish(fig: Figure, handles: list, title: str, subtitle: str) -> Figure:
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), frameon=False)  # fmt: skip
    fig.suptitle(f"{title}\n{subtitle}".strip())
    return fig


def _series(values: pd.DataFrame, x: str, row: str | None, col: str | None):
    """Series in order, legend text per series (labels differing by panel joined), styles, and
    the error bar (`t_interval` where some cell has two or more values)."""
    series = list(dict.fromkeys(values["series"]))
    labels = values.groupby("series", sort=False)["label"].agg(lambda v: " / ".join(dict.fromkeys(v)))  # fmt: skip
    replicated = values.groupby([x, "series", *filter(None, (row, col))], dropna=False).size().max() > 1  # fmt: skip
    return series, labels.to_dict(), {s: series_style(s, i) for i, s in enumerate(series)}, (
        t_interval if replicated else None)  # fmt: skip


def bars(values: pd.DataFrame, *, x: str, row: str | None = "k", col: str | None = "metric",
         title: str = "", subtitle: str = "", x_format: Callable[[object], str] = _name) -> Figure:  # fmt: skip
    """Bars of the mean ``value`` per `x` group, one bar per series, one panel per row × col."""
    series, labels, styles, errorbar = _series(values, x, row, col)
    groups = _ordered(values[x])
    with mpl.rc_context(RC):
        fig, panels = _facets(values, row, col)
        for ax, part in panels:
            shown = [s for s in series if s in set(part["series"])]
            sns.barplot(part, x=x, y="value", hue="series", order=groups, hue_order=shown, ax=ax,
                        palette={s: styles[s]["color"] for s in shown}, errorbar=errorbar,
                        edgecolor="black", linewidth=0.5, capsize=0.15, err_kws={"linewidth": 0.8},
                        legend=False)  # fmt: skip
            for container, s in zip(ax.containers, shown, strict=True):
                container.set_label(labels[s])
                for patch in container.patches:
                    patch.set_hatch(styles[s]["hatch"])
            ax.set_xticks(range(len(groups)), [x_format(g) for g in groups])
            ax.set(xlabel="", ylabel="")
        return _finish(fig, [Patch(facecolor=styles[s]["color"], hatch=styles[s]["hatch"],
                                   edgecolor="black", label=labels[s]) for s in series], title, subtitle)  # fmt: skip


def lines(values: pd.DataFrame, *, x: str, row: str | None = "k", col: str | None = "metric",
          title: str = "", subtitle: str = "", x_label: str = "", y_label: str = "", log_x: bool = False,
          x_format: Callable[[float], str] | None = None) -> Figure:  # fmt: skip
    """Mean ``value`` over `x` with interval bars, one line per series, panels row × col."""
    series, labels, styles, errorbar = _series(values, x, row, col)
    line_style = {s: {k: styles[s][k] for k in ("color", "marker", "linestyle")} for s in series}
    with mpl.rc_context(RC):
        fig, panels = _facets(values, row, col)
        for ax, part in panels:
            for s in [s for s in series if s in set(part["series"])]:
                line = part[part["series"] == s]
                sns.lineplot(line, x=x, y="value", errorbar=errorbar, err_style="bars", ax=ax,
                             label=labels[s], legend=False, err_kws={"capsize": 2},
                             markevery=max(line[x].nunique() // 10, 1), **line_style[s])  # fmt: skip
            if log_x:
                ax.set_xscale("log")
            if x_format is not None:
                ticks = sorted(values[x].unique())
                ax.set_xticks(ticks, [x_format(t) for t in ticks])
            ax.set(xlabel=x_label, ylabel=y_label)
        handles = [Line2D([], [], label=labels[s], **line_style[s]) for s in series]
        return _finish(fig, handles, title, subtitle)


def disentanglement(scores: pd.DataFrame, *, subtitle: str = "") -> Figure:
    """One panel per (dataset, score of `DISENTANGLEMENT`): mean over seeds vs conformity
    strength, a line per backbone × method."""
    shown = scores[scores["metric"].isin(DISENTANGLEMENT)]
    shown = shown.assign(series=shown["backbone"] + "-" + shown["method"])
    return lines(shown.assign(label=shown["series"]), x="strength", row="dataset", col="metric",
                 x_label="conformity strength", title="Disentanglement on synthetic data",
                 subtitle=subtitle)  # fmt: skip


def tsne_scatter(points: pd.DataFrame, *, boundary: Mapping[str, float] | None = None,
                 title: str = "", subtitle: str = "") -> Figure:  # fmt: skip
    """t-SNE points: colour = popularity tertile, marker = embedding table, panels by ``panel``;
    with `boundary` (`dice.stats.linear_separation`) the fitted classifier as a dashed red line."""
    points = points if "panel" in points else points.assign(panel="")
    with mpl.rc_context(RC):
        fig, panels = _facets(points, None, "panel", size=(3.4, 3.4))
        for ax, part in panels:
            sns.scatterplot(part, x="x", y="y", hue="group", style="table", ax=ax, s=8, alpha=0.7,
                            palette=TERTILE_COLOURS, markers=TABLE_MARKERS, linewidth=0,
                            legend=False, rasterized=True)  # fmt: skip
            ax.set(xticks=[], yticks=[], xlabel="", ylabel="")
            ax.spines[["left", "bottom"]].set_visible(False)
            if boundary is not None:
                _boundary(ax, boundary)
        dot = {"marker": "s", "linestyle": ""}
        handles = [Line2D([], [], color=c, label=g, **dot) for g, c in TERTILE_COLOURS.items()]
        if points["table"].nunique() > 1:
            handles += [Line2D([], [], color="0.4", marker=m, linestyle="", label=t)
                        for t, m in TABLE_MARKERS.items()]  # fmt: skip
        if boundary is not None:
            handles.append(Line2D([], [], color=BOUNDARY_COLOUR, linestyle="--",
                                  label="logistic regression"))  # fmt: skip
        return _finish(fig, handles, title, subtitle)


def _boundary(ax, line: Mapping[str, float]) -> None:
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    if abs(line["w_y"]) >= abs(line["w_x"]):
        xs = np.array([x0, x1])
        ys = -(line["w_x"] * xs + line["b"]) / line["w_y"]
    else:
        ys = np.array([y0, y1])
        xs = -(line["w_y"] * ys + line["b"]) / line["w_x"]
    ax.plot(xs, ys, color=BOUNDARY_COLOUR, linestyle="--", linewidth=1.5, gid="boundary")
    ax.set(xlim=(x0, x1), ylim=(y0, y1))
    ax.text(0.5, -0.02, f"fitted linear classifier (interest vs conformity): accuracy "
            f"{line['accuracy']:.3f}", transform=ax.transAxes, ha="center", va="top", gid="accuracy")  # fmt: skip


def save_figure(fig: Figure, stem: str | Path, *, formats: tuple[str, ...] = ("pdf", "png")) -> list[Path]:  # fmt: skip
    """Write `fig` as stem.pdf / stem.png (atomically; PDFs without a creation date)."""
    from dice.io import atomic_path

    paths = [Path(stem).with_suffix(f".{fmt}") for fmt in formats]
    with mpl.rc_context(RC):
        for path in paths:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=path.suffix[1:], dpi=200,
                            metadata={"CreationDate": None} if path.suffix == ".pdf" else {})  # fmt: skip
    return paths
