"""Figure functions: tidy DataFrames in, a matplotlib `Figure` out (no paths, no pyplot state).

One style for every figure (the section below): each series keeps its colour, marker, hatch and
line style across figures; colours are the Okabe–Ito colour-blind-safe palette and every series
also differs by marker / hatch / dash, so the figures read in greyscale. Error bars are the 95 %
t-interval over seeds, drawn where there are at least two seeds.

Frames carry ``series`` (style key), ``label`` (legend text), ``mean``, ``ci95`` and the columns
named by the plot's `x`, `row` and `col` arguments (built by `dice.artefacts`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

# --- style ---------------------------------------------------------------------------------------

RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.grid": True, "grid.alpha": 0.3,
    "axes.axisbelow": True, "axes.spines.top": False, "axes.spines.right": False,
    "hatch.linewidth": 0.6, "lines.linewidth": 1.2, "lines.markersize": 4,
    "errorbar.capsize": 2, "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.bbox": "tight",
}  # fmt: skip
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
HATCHES = ("", "//", "\\\\", "xx", "..", "++", "--", "oo")
DASHES = ("-", "--", "-.", ":")
#: style key → (colour, marker, hatch, line style); DICE is always the solid vermillion series.
SERIES = {
    "dice": ("#D55E00", "o", "", "-"), "dice-int": ("#CC79A7", "^", "..", "--"),
    "dice-con": ("#E69F00", "v", "++", "-."), "none": ("#777777", "s", "//", ":"),
    "ips": ("#56B4E9", "D", "\\\\", "--"), "ips-c": ("#009E73", "P", "--", "-."),
    "ips-cn": ("#0072B2", "X", "oo", ":"), "ips-cnsr": ("#0072B2", "D", "xx", "--"),
    "cause": ("#009E73", "h", "oo", "-."), "itempop": ("#999999", "*", "", ":"),
    "bias-u": ("#56B4E9", "^", "..", "--"), "bias-i": ("#009E73", "v", "\\\\", "-."),
    "bias-ui": ("#0072B2", "D", "xx", ":"), "dice-random": ("#0072B2", "s", "//", "--"),
    "dice-nocon": ("#CC79A7", "s", "//", "--"), "dice-l1": ("#56B4E9", "s", "//", "--"),
    "dice-l2": ("#009E73", "^", "\\\\", "-."), "curriculum": ("#D55E00", "o", "", "-"),
    "normal": ("#0072B2", "s", "//", "--"),
}  # fmt: skip
TERTILE_COLOURS = {"popular": "#440154", "normal": "#21918C", "unpopular": "#B5DE2B"}  # viridis
TABLE_MARKERS = {"interest": "x", "conformity": "o"}  # DICE Fig. 5b: crosses / dots
BOUNDARY_COLOUR = "#CC0000"  # the paper's "red line", dashed for greyscale
PANEL_NAMES = {"recall": "Recall", "hr": "HR", "ndcg": "NDCG", "mf": "MF", "lightgcn": "LightGCN"}


def series_style(key: str, position: int = 0) -> dict:
    """Colour, marker, hatch and line style of a series (a fallback by position if unknown)."""
    colour, marker, hatch, dash = SERIES.get(key, (
        OKABE_ITO[position % len(OKABE_ITO)], MARKERS[position % len(MARKERS)],
        HATCHES[position % len(HATCHES)], DASHES[position % len(DASHES)]))  # fmt: skip
    return {"color": colour, "marker": marker, "hatch": hatch, "linestyle": dash}


def _panel_name(value: object) -> str:
    if isinstance(value, int | np.integer):
        return f"@{value}"
    return PANEL_NAMES.get(str(value), str(value))


def _ordered(values: pd.Series) -> list:
    """Distinct panel values: numbers ascending, metrics and backbones in the paper's order."""
    distinct = list(dict.fromkeys(values))
    if all(isinstance(v, int | float | np.number) for v in distinct):
        return sorted(distinct)
    rank = {name: i for i, name in enumerate(PANEL_NAMES)}
    return sorted(distinct, key=lambda v: rank.get(v, len(rank)))


def _grid(frame: pd.DataFrame, row: str | None, col: str | None, *, height: float = 1.9):
    rows = _ordered(frame[row]) if row else [None]
    cols = _ordered(frame[col]) if col else [None]
    fig = Figure(
        figsize=(max(2.4 * len(cols), 3.2), height * len(rows) + 0.5), layout="constrained"
    )
    axes = np.atleast_2d(fig.subplots(len(rows), len(cols), squeeze=False))
    panels = {}
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            ax.set_title(
                " ".join(_panel_name(v) for v in (c, r) if v is not None).replace(" @", "@")
            )
            panels[(r, c)] = ax
    return fig, panels


def _panel_rows(frame: pd.DataFrame, row: str | None, col: str | None, key: tuple) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for name, value in zip((row, col), key, strict=True):
        if name is not None:
            mask &= (frame[name] == value).to_numpy()
    return frame[mask]


def _legend(fig: Figure, panels: Mapping) -> None:
    handles, labels = next(iter(panels.values())).get_legend_handles_labels()
    for ax in panels.values():  # series absent from the first panel
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), frameon=False)


def _errors(values: pd.Series) -> np.ndarray | None:
    return None if values.isna().all() else values.fillna(0.0).to_numpy()


# --- figures -------------------------------------------------------------------------------------


def grouped_bars(frame: pd.DataFrame, *, x: str, row: str | None = "k", col: str | None = "metric",
                 title: str = "", x_format: Callable[[object], str] = _panel_name,
                 y_label: str = "") -> Figure:  # fmt: skip
    """Bars of ``mean`` (± ``ci95``) per `x` group, one bar per series, one panel per row × col."""
    with mpl.rc_context(RC):
        fig, panels = _grid(frame, row, col)
        series = list(dict.fromkeys(frame["series"]))
        width = 0.8 / max(len(series), 1)
        for key, ax in panels.items():
            cells = _panel_rows(frame, row, col, key)
            groups = _ordered(frame[x])
            for s, name in enumerate(series):
                part = cells[cells["series"] == name].set_index(x).reindex(groups)
                if part["mean"].isna().all():
                    continue
                style = series_style(name, s)
                ax.bar(np.arange(len(groups)) + (s - (len(series) - 1) / 2) * width,
                       part["mean"].to_numpy(), width, yerr=_errors(part["ci95"]),
                       color=style["color"], hatch=style["hatch"], edgecolor="black", linewidth=0.5,
                       label=part["label"].dropna().iloc[0])  # fmt: skip
            ax.set_xticks(np.arange(len(groups)), [x_format(g) for g in groups])
            ax.set_xlim(-0.5, len(groups) - 0.5)
            ax.set_ylabel(y_label)
        _legend(fig, panels)
        fig.suptitle(title)
        return fig


def line_panels(frame: pd.DataFrame, *, x: str, row: str | None = "k", col: str | None = "metric",
                title: str = "", x_label: str = "", y_label: str = "", log_x: bool = False,
                x_format: Callable[[float], str] | None = None) -> Figure:  # fmt: skip
    """Lines of ``mean`` over `x` (error bars ``ci95``), one line per series, panels row × col."""
    with mpl.rc_context(RC):
        fig, panels = _grid(frame, row, col)
        series = list(dict.fromkeys(frame["series"]))
        for key, ax in panels.items():
            cells = _panel_rows(frame, row, col, key)
            for s, name in enumerate(series):
                part = cells[cells["series"] == name].sort_values(x)
                if part.empty:
                    continue
                style = series_style(name, s)
                ax.errorbar(part[x], part["mean"], yerr=_errors(part["ci95"]), color=style["color"],
                            marker=style["marker"], linestyle=style["linestyle"],
                            markevery=max(len(part) // 10, 1), label=part["label"].iloc[0])  # fmt: skip
            if log_x:
                ax.set_xscale("log")
            ticks = sorted(frame[x].unique())
            if x_format is not None:
                ax.set_xticks(ticks, [x_format(t) for t in ticks])
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
        _legend(fig, panels)
        fig.suptitle(title)
        return fig


def tsne_scatter(points: pd.DataFrame, *, boundary: Mapping[str, float] | None = None,
                 title: str = "") -> Figure:  # fmt: skip
    """t-SNE points: colour = popularity tertile, marker = embedding table; panels by ``panel``.

    With `boundary` (``w_x``, ``w_y``, ``b``, ``accuracy`` from `dice.stats.linear_separation`)
    the fitted linear classifier is drawn as a dashed red line and its accuracy printed.
    """
    panel_names = list(dict.fromkeys(points["panel"])) if "panel" in points else [None]
    with mpl.rc_context(RC):
        fig = Figure(figsize=(3.4 * len(panel_names), 3.4), layout="constrained")
        axes = fig.subplots(1, len(panel_names), squeeze=False)[0]
        for ax, name in zip(axes, panel_names, strict=True):
            part = points if name is None else points[points["panel"] == name]
            _scatter(ax, part)
            ax.set_title(name or "")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[["left", "bottom"]].set_visible(False)
            if boundary is not None:
                _boundary(ax, boundary)
        fig.legend(handles=_tsne_handles(points, boundary is not None), loc="outside lower center",
                   ncol=6, frameon=False)  # fmt: skip
        fig.suptitle(title)
        return fig


def _tsne_handles(points: pd.DataFrame, with_boundary: bool) -> list[Line2D]:
    """Legend: colour = popularity group, marker = embedding table, dashed = the classifier."""
    handles = [Line2D([], [], color=c, marker="s", linestyle="", label=g)
               for g, c in TERTILE_COLOURS.items()]  # fmt: skip
    if points["table"].nunique() > 1:
        handles += [Line2D([], [], color="0.4", marker=m, linestyle="", label=t)
                    for t, m in TABLE_MARKERS.items()]  # fmt: skip
    if with_boundary:
        handles.append(
            Line2D([], [], color=BOUNDARY_COLOUR, linestyle="--", label="logistic regression")
        )
    return handles


def _scatter(ax: Axes, points: pd.DataFrame) -> None:
    for table, marker in TABLE_MARKERS.items():
        for group, colour in TERTILE_COLOURS.items():
            part = points[(points["table"] == table) & (points["group"] == group)]
            if part.empty:
                continue
            ax.scatter(
                part["x"],
                part["y"],
                s=6 if marker == "x" else 3,
                marker=marker,
                color=colour,
                linewidths=0.5,
                alpha=0.7,
                label=f"{group} ({table})",
                rasterized=True,
            )


def _boundary(ax: Axes, line: Mapping[str, float]) -> None:
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    if abs(line["w_y"]) >= abs(line["w_x"]):
        xs = np.array([x0, x1])
        ys = -(line["w_x"] * xs + line["b"]) / line["w_y"]
    else:
        ys = np.array([y0, y1])
        xs = -(line["w_y"] * ys + line["b"]) / line["w_x"]
    ax.plot(xs, ys, color=BOUNDARY_COLOUR, linestyle="--", linewidth=1.5, gid="boundary",
            label="logistic regression")  # fmt: skip
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.text(0.5, -0.02, f"fitted linear classifier (interest vs conformity): accuracy "
            f"{line['accuracy']:.3f}", transform=ax.transAxes, ha="center", va="top",
            gid="accuracy")  # fmt: skip


def save_figure(
    fig: Figure, stem: str | Path, *, formats: tuple[str, ...] = ("pdf", "png")
) -> list[Path]:
    """Write `fig` as stem.pdf / stem.png (atomically; PDFs without a creation date)."""
    from dice.io import atomic_path

    written = []
    with mpl.rc_context(RC):
        for fmt in formats:
            path = Path(stem).with_suffix(f".{fmt}")
            meta = {"CreationDate": None} if fmt == "pdf" else {}
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=200, metadata=meta)
            written.append(path)
    return written


# --- the paper's figures (frames from dice.artefacts) --------------------------------------------


def fig4_bias(frame: pd.DataFrame, *, dataset: str) -> Figure:
    """DICE §4.2.2 Fig. 4: DICE vs scalar biases (BIAS-U/I/UI) and none, per backbone."""
    return grouped_bars(frame, x="k", row="backbone", col="metric",
                        title=f"Embedding vs scalar bias ({dataset})")  # fmt: skip


def fig5a_iou(frame: pd.DataFrame, *, dataset: str) -> Figure:
    """DICE §4.3.1 Fig. 5a: IOU@K of each method's top-K with ItemPop's, K = 1..50."""
    return line_panels(frame, x="k", row=None, col="backbone", x_label="Top-K", y_label="IOU with ItemPop",
                       title=f"Overlap with ItemPop ({dataset})")  # fmt: skip


def fig5b_tsne(points: pd.DataFrame, boundary: Mapping[str, float], *, dataset: str) -> Figure:
    """DICE §4.3.1 Fig. 5b: item interest (×) vs conformity (•) embeddings, fitted boundary."""
    return tsne_scatter(points, boundary=boundary, title=f"DICE item embeddings, t-SNE ({dataset})")


def fig6_caps(frame: pd.DataFrame, *, dataset: str) -> Figure:
    """DICE §4.3.2 Fig. 6: DICE vs IPS-CNSR at intervention caps 0.5 / 0.7 / 0.9."""
    return grouped_bars(frame, x="cap", row="k", col="metric", x_format=lambda c: f"cap {c:g}",
                        title=f"Robustness under intervention ({dataset})")  # fmt: skip


def fig7_conformity(points: pd.DataFrame, *, dataset: str) -> Figure:
    """DICE §4.4.2 Fig. 7: conformity item embeddings with and without conformity modelling."""
    return tsne_scatter(points, title=f"Conformity embeddings, t-SNE ({dataset})")


def fig8a_curriculum(frame: pd.DataFrame, *, dataset: str) -> Figure:
    """DICE §4.4.3 Fig. 8a: curriculum vs normal learning over the initial α."""
    return line_panels(frame, x="alpha", row="k", col="metric", log_x=True, x_label="initial α",
                       x_format="{:g}".format, title=f"Curriculum vs normal learning ({dataset})")  # fmt: skip


def fig8b_shares(frame: pd.DataFrame, *, dataset: str) -> Figure:
    """DICE §4.5 Fig. 8b: DICE, CausE, IPS-CNSR over the intervened-train share (0 %–20 %)."""
    return line_panels(frame, x="share", row="k", col="metric", x_label="intervened training data",
                       x_format=lambda s: f"{s:.0%}", title=f"Intervened training data ({dataset})")  # fmt: skip
