"""Figure functions: the expected panels, series, bars, error bars and annotations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from dice import artefacts as art
from dice import plots
from dice.cli import main
from tests.test_report import write_run, write_split

METRICS = [("recall", 20), ("hr", 20), ("ndcg", 20), ("recall", 50), ("hr", 50), ("ndcg", 50)]


def curve(series: dict[str, dict], *, x: str, ci: float = float("nan"), **fixed) -> pd.DataFrame:
    """A summary frame: series → {x value: mean}, every metric@k, backbone mf."""
    rows = [{"series": s, "label": art.method_label(s), "metric": m, "k": k, x: xv, "mean": v + k / 1000,
             "ci95": ci, "backbone": "mf", **fixed}
            for s, values in series.items() for xv, v in values.items() for m, k in METRICS]  # fmt: skip
    return pd.DataFrame(rows)


def bar_heights(ax) -> dict[str, list[float]]:
    return {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers
            if isinstance(c, BarContainer)}  # fmt: skip


def test_grouped_bars_fig6_panels_series_and_heights():
    frame = curve(
        {"dice": {0.5: 0.2, 0.9: 0.3}, "ips-cnsr": {0.5: 0.1, 0.9: 0.15}}, x="cap", ci=0.01
    )
    fig = plots.fig6_caps(frame, dataset="toy")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6  # rows k = 20, 50 × columns Recall, HR, NDCG
    ax = fig.axes[0]
    assert ax.get_title() == "Recall@20"
    heights = bar_heights(ax)
    assert list(heights) == ["DICE", "IPS-CNSR"]
    assert heights["DICE"] == pytest.approx([0.22, 0.32])
    assert heights["IPS-CNSR"] == pytest.approx([0.12, 0.17])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cap 0.5", "cap 0.9"]
    assert all(c.errorbar is not None for c in ax.containers if isinstance(c, BarContainer))
    hatches = {
        c.get_label(): c.patches[0].get_hatch()
        for c in ax.containers
        if isinstance(c, BarContainer)
    }
    assert hatches["DICE"] != hatches["IPS-CNSR"]  # greyscale: the hatch tells them apart
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["DICE", "IPS-CNSR"]


def test_bars_without_seed_replication_have_no_error_bars():
    frame = curve({"dice": {20: 0.2}, "none": {20: 0.1}}, x="xk")
    fig = plots.grouped_bars(frame, x="xk")
    assert all(c.errorbar is None for c in fig.axes[0].containers)


def test_fig4_rows_are_backbones():
    frame = pd.concat(
        [
            curve({"dice": {0: 0.2}, "bias-u": {0: 0.1}}, x="_", backbone=b)
            for b in ("mf", "lightgcn")
        ]
    )
    frame = frame.drop(columns="_")
    fig = plots.fig4_bias(frame, dataset="toy")
    assert [ax.get_title() for ax in fig.axes[:3]] == ["Recall MF", "HR MF", "NDCG MF"]
    assert fig.axes[3].get_title() == "Recall LightGCN"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["@20", "@50"]
    assert len(bar_heights(fig.axes[0])["DICE"]) == 2


def test_fig8b_lines_skip_cause_at_zero_share():
    frame = curve({"dice": {0.0: 0.2, 0.1: 0.3, 0.2: 0.35}, "cause": {0.1: 0.1, 0.2: 0.12},
                   "ips-cnsr": {0.0: 0.15, 0.1: 0.2, 0.2: 0.22}}, x="share", ci=0.02)  # fmt: skip
    fig = plots.fig8b_shares(frame, dataset="toy")
    ax = fig.axes[0]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}
    assert set(bars) == {"DICE", "CausE", "IPS-CNSR"}
    line = bars["CausE"].lines[0]
    assert line.get_xdata().tolist() == [0.1, 0.2]
    assert line.get_ydata().tolist() == pytest.approx([0.12, 0.14])
    assert bars["DICE"].has_yerr
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0%", "10%", "20%"]
    styles = {(c.lines[0].get_marker(), c.lines[0].get_linestyle()) for c in bars.values()}
    assert len(styles) == 3


def test_fig5a_iou_one_panel_per_backbone():
    rows = [{"series": m, "label": art.method_label(m, backbone="mf"), "backbone": "mf", "k": k,
             "mean": k / 100, "ci95": np.nan} for m in ("dice", "dice-con", "none") for k in range(1, 51)]  # fmt: skip
    fig = plots.fig5a_iou(pd.DataFrame(rows), dataset="toy")
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "MF"
    labels = [c.get_label() for c in fig.axes[0].containers]
    assert labels == ["DICE", "DICE-con", "MF"]
    assert len(fig.axes[0].containers[0].lines[0].get_xdata()) == 50


def tsne_points(n: int = 30) -> pd.DataFrame:
    xs = np.linspace(-1, 1, n)
    return pd.DataFrame({
        "x": np.concatenate([xs, xs]), "y": np.concatenate([xs + 2, xs - 2]),
        "table": ["interest"] * n + ["conformity"] * n,
        "group": (["popular", "normal", "unpopular"] * n)[: 2 * n],
    })  # fmt: skip


def test_tsne_scatter_draws_groups_tables_boundary_and_accuracy():
    boundary = {"w_x": -1.0, "w_y": 1.0, "b": 0.0, "accuracy": 0.95}
    fig = plots.fig5b_tsne(tsne_points(), boundary, dataset="toy")
    ax = fig.axes[0]
    assert len(ax.collections) == 6  # 3 tertiles × 2 tables
    assert {c.get_label() for c in ax.collections} >= {
        "popular (interest)",
        "unpopular (conformity)",
    }
    line = next(li for li in ax.get_lines() if li.get_gid() == "boundary")
    x, y = line.get_xdata(), line.get_ydata()
    assert np.allclose(y, x)  # -(w_x x + b) / w_y = x
    text = next(t for t in ax.texts if t.get_gid() == "accuracy")
    assert "accuracy 0.950" in text.get_text()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [
        "popular",
        "normal",
        "unpopular",
        "interest",
        "conformity",
        "logistic regression",
    ]


def test_fig7_one_panel_per_run_without_boundary():
    points = pd.concat(
        [tsne_points().assign(table="conformity", panel=p) for p in ("DICE", "no con")]
    )
    fig = plots.fig7_conformity(points, dataset="toy")
    assert [ax.get_title() for ax in fig.axes] == ["DICE", "no con"]
    assert all(not ax.get_lines() for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["popular", "normal", "unpopular"]


FIGURE_SERIES = {
    "fig4_bias": ["none", "bias-u", "bias-i", "bias-ui", "dice"],
    "fig5a_iou": ["dice", "dice-int", "dice-con", "ips", "cause", "none"],
    "fig6_caps": ["dice", "ips-cnsr"], "fig8a_curriculum": ["curriculum", "normal"],
    "fig8b_shares": ["dice", "cause", "ips-cnsr"], "fig7": ["dice", "dice-nocon"],
}  # fmt: skip


@pytest.mark.parametrize("name", FIGURE_SERIES)
def test_series_of_one_figure_differ_without_colour(name):
    styles = [plots.series_style(s) for s in FIGURE_SERIES[name]]
    assert len({(s["marker"], s["linestyle"]) for s in styles}) == len(styles)  # lines
    assert len({s["hatch"] for s in styles}) == len(styles)  # bars
    assert len({s["color"] for s in styles}) == len(styles)


def test_save_figure_is_reproducible(tmp_path):
    frame = curve({"dice": {0.5: 0.2}}, x="cap").query("metric == 'recall' and k == 20")

    def draw():
        return plots.grouped_bars(frame, x="cap", row=None, col=None)

    first = plots.save_figure(draw(), tmp_path / "a", formats=("pdf",))
    second = plots.save_figure(draw(), tmp_path / "b", formats=("pdf",))
    assert first[0].suffix == ".pdf" and first[0].read_bytes().startswith(b"%PDF")
    assert first[0].read_bytes() == second[0].read_bytes()


def test_figure_command_from_run_files(tmp_path):
    runs = [write_run(tmp_path, m, s, v + s / 100, split=f"cap{c}-share0.1")
            for c in (0.5, 0.9) for m, v in (("dice", 0.2), ("ips-cnsr", 0.1)) for s in (0, 1)]  # fmt: skip
    out = tmp_path / "figures"
    args = ["figure", "fig6_caps", *map(str, runs), "--dataset", "ml10m", "--out-dir", str(out)]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "fig6_caps_ml10m.csv", "fig6_caps_ml10m.pdf", "fig6_caps_ml10m.png"]  # fmt: skip
    data = pd.read_csv(out / "fig6_caps_ml10m.csv")
    cell = data[
        (data["method"] == "dice")
        & (data["cap"] == 0.5)
        & (data["metric"] == "recall")
        & (data["k"] == 20)
    ]
    assert cell["mean"].iloc[0] == pytest.approx(0.205) and cell["n_seeds"].iloc[0] == 2


def test_fig7_command_needs_both_runs(tmp_path, capsys):
    write_split(tmp_path)
    run = write_run(tmp_path, "dice", 0, 0.1)
    args = ["figure", "fig7_conformity", str(run), "--splits", str(tmp_path / "splits"),
            "--out-dir", str(tmp_path / "f")]  # fmt: skip
    assert main(args) == 2
    assert "dice-nocon" in capsys.readouterr().err
