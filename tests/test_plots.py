"""Figure functions: the expected panels, series, bars, intervals, subtitles and annotations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from scipy import stats as sps

from dice import artefacts as art
from dice import plots
from dice.cli import main
from tests.test_report import SPLIT, write_run, write_split

METRICS = [("recall", 20), ("hr", 20), ("ndcg", 20), ("recall", 50), ("hr", 50), ("ndcg", 50)]


def values(series: dict[str, dict], *, x: str, seeds=(0.0,), **fixed) -> pd.DataFrame:
    """Per-seed values: series → {x value: base}; seed offsets `seeds`; every metric@k, MF."""
    rows = [{"series": s, "label": art.method_label(s), "metric": m, "k": k, x: xv, "seed": i,
             "value": v + k / 1000 + d, "backbone": "mf", **fixed}
            for s, points in series.items() for xv, v in points.items() for m, k in METRICS
            for i, d in enumerate(seeds)]  # fmt: skip
    return pd.DataFrame(rows)


def bar_heights(ax) -> dict[str, list[float]]:
    return {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers
            if isinstance(c, BarContainer)}  # fmt: skip


def error_spans(ax) -> list[float]:
    """Heights of the error bars (seaborn draws one line per bar, caps included)."""
    return sorted(
        float(np.nanmax(li.get_ydata()) - np.nanmin(li.get_ydata())) for li in ax.get_lines()
    )


def test_bars_fig6_panels_series_heights_and_t_intervals():
    frame = values({"dice": {0.5: 0.2, 0.9: 0.3}, "ips-cnsr": {0.5: 0.1, 0.9: 0.15}}, x="cap",
                   seeds=(0.0, 0.01, 0.05))  # fmt: skip
    fig = plots.bars(
        frame, x="cap", x_format=lambda c: f"cap {c:g}", title="Fig. 6", subtitle="3 seeds"
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 6  # rows k = 20, 50 × Recall, HR, NDCG
    ax = fig.axes[0]
    assert ax.get_title() == "Recall@20" and fig.get_suptitle() == "Fig. 6\n3 seeds"
    heights = bar_heights(ax)
    assert list(heights) == ["DICE", "IPS-CNSR"]
    assert heights["DICE"] == pytest.approx([0.24, 0.34])  # 0.2 + 0.02 (mean offset) + 20 / 1000
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cap 0.5", "cap 0.9"]
    # every bar has the same three seed offsets 0, 0.01, 0.05: the 95 % t-interval of scipy
    low, high = sps.t.interval(0.95, 2, loc=0.02, scale=sps.sem([0.0, 0.01, 0.05]))
    assert error_spans(ax) == pytest.approx([high - low] * 4)
    hatches = {c.get_label(): c.patches[0].get_hatch() for c in ax.containers}
    assert hatches["DICE"] != hatches["IPS-CNSR"]  # greyscale: the hatch tells them apart
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["DICE", "IPS-CNSR"]


def test_bars_without_seed_replication_have_no_error_bars():
    fig = plots.bars(values({"dice": {20: 0.2}, "none": {20: 0.1}}, x="xk"), x="xk")
    assert error_spans(fig.axes[0]) == [] and len(bar_heights(fig.axes[0])["DICE"]) == 1


def test_fig4_layout_rows_are_backbones():
    frame = pd.concat([values({"dice": {0: 0.2}, "bias-u": {0: 0.1}}, x="_", backbone=b)
                       for b in ("mf", "lightgcn")]).drop(columns="_")  # fmt: skip
    fig = plots.bars(frame, x="k", row="backbone")
    assert [ax.get_title() for ax in fig.axes[:3]] == ["Recall MF", "HR MF", "NDCG MF"]
    assert fig.axes[3].get_title() == "Recall LightGCN"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["@20", "@50"]
    assert len(bar_heights(fig.axes[0])["DICE"]) == 2


def test_lines_skip_cause_at_zero_share_and_differ_in_marker_and_dash():
    frame = values({"dice": {0.0: 0.2, 0.1: 0.3, 0.2: 0.35}, "cause": {0.1: 0.1, 0.2: 0.12},
                    "ips-cnsr": {0.0: 0.15, 0.1: 0.2, 0.2: 0.22}}, x="share", seeds=(0, 0.02))  # fmt: skip
    fig = plots.lines(frame, x="share", x_format=lambda s: f"{s:.0%}")
    ax = fig.axes[0]
    lines = {
        li.get_label(): li
        for li in ax.get_lines()
        if li.get_label() in {"DICE", "CausE", "IPS-CNSR"}
    }
    assert set(lines) == {"DICE", "CausE", "IPS-CNSR"}
    assert lines["CausE"].get_xdata().tolist() == [0.1, 0.2]
    assert lines["CausE"].get_ydata().tolist() == pytest.approx([0.13, 0.15])  # + 0.01 + 0.02
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0%", "10%", "20%"]
    assert len({(li.get_marker(), li.get_linestyle()) for li in lines.values()}) == 3
    assert len(ax.containers) == 3  # one set of interval bars per series (two seeds each)


def test_fig5a_labels_that_differ_by_panel_are_joined():
    rows = [{"series": m, "label": art.method_label(m, backbone=b), "backbone": b, "k": k,
             "value": k / 100, "seed": 0} for b in ("mf", "lightgcn")
            for m in ("dice", "none") for k in range(1, 51)]  # fmt: skip
    fig = plots.lines(pd.DataFrame(rows), x="k", row=None, col="backbone")
    assert [ax.get_title() for ax in fig.axes] == ["MF", "LightGCN"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["DICE", "MF / LightGCN"]
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 50


def tsne_points(n: int = 30) -> pd.DataFrame:
    xs = np.linspace(-1, 1, n)
    return pd.DataFrame({
        "x": np.concatenate([xs, xs]), "y": np.concatenate([xs + 2, xs - 2]),
        "table": ["interest"] * n + ["conformity"] * n,
        "group": (["popular", "normal", "unpopular"] * n)[: 2 * n],
    })  # fmt: skip


def test_tsne_scatter_draws_points_boundary_and_accuracy():
    boundary = {"w_x": -1.0, "w_y": 1.0, "b": 0.0, "accuracy": 0.95}
    fig = plots.tsne_scatter(
        tsne_points(), boundary=boundary, title="t", subtitle="run mf/dice/seed0"
    )
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 60
    line = next(li for li in ax.get_lines() if li.get_gid() == "boundary")
    assert np.allclose(line.get_ydata(), line.get_xdata())  # -(w_x x + b) / w_y = x
    assert "accuracy 0.950" in next(t for t in ax.texts if t.get_gid() == "accuracy").get_text()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "popular", "normal", "unpopular", "interest", "conformity", "logistic regression"]  # fmt: skip
    assert fig.get_suptitle().endswith("run mf/dice/seed0")


def test_tsne_one_panel_per_run_without_boundary():
    points = pd.concat(
        [tsne_points().assign(table="conformity", panel=p) for p in ("DICE", "no con")]
    )
    fig = plots.tsne_scatter(points)
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
    frame = values({"dice": {0.5: 0.2}}, x="cap").query("metric == 'recall' and k == 20")
    first = plots.save_figure(
        plots.bars(frame, x="cap", row=None, col=None), tmp_path / "a", formats=("pdf",)
    )
    second = plots.save_figure(
        plots.bars(frame, x="cap", row=None, col=None), tmp_path / "b", formats=("pdf",)
    )
    assert first[0].read_bytes().startswith(b"%PDF")
    assert first[0].read_bytes() == second[0].read_bytes()


def with_profile(run, profile: str) -> None:
    record = json.loads((run / "run.json").read_text())
    record["settings"] = {"train": {"profile": profile}}
    (run / "run.json").write_text(json.dumps(record))


def test_figure_command_csv_and_a_subtitle_from_the_data(tmp_path):
    runs = [write_run(tmp_path, m, s, v + s / 100, split=f"cap{c}-share0.1")
            for c in (0.5, 0.9) for m, v in (("dice", 0.2), ("ips-cnsr", 0.1)) for s in (0, 1)]  # fmt: skip
    for run in runs:
        with_profile(run, "smoke")
    out = tmp_path / "figures"
    args = ["figure", "fig6_caps", *map(str, runs), "--dataset", "ml10m", "--out-dir", str(out)]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "fig6_caps_ml10m.csv", "fig6_caps_ml10m.pdf", "fig6_caps_ml10m.png"]  # fmt: skip
    data = pd.read_csv(out / "fig6_caps_ml10m.csv")
    assert list(data.columns) == [
        *art.CELL_KEYS,
        "mean",
        "std",
        "ci95",
        "n_seeds",
        "series",
        "label",
        "profile",
    ]
    assert set(data["profile"]) == {"smoke"}  # the CSV says how its runs were trained
    cell = data.query("method == 'dice' and cap == 0.5 and metric == 'recall' and k == 20")
    assert cell["mean"].iloc[0] == pytest.approx(0.205) and cell["n_seeds"].iloc[0] == 2
    # what the figure states about itself (two caps, two seeds, the profile of run.json)
    subtitle = art.describe(art.run_index(runs))
    assert subtitle == "2 seeds per cell; mean ± 95% t-interval; caps 0.5, 0.9; profile smoke"
    one = art.describe(art.run_index([r for r in runs if r.name == "seed0"]))
    assert one.startswith("1 seed per cell; no intervals; caps 0.5, 0.9")


def test_fig7_command_needs_both_runs(tmp_path, capsys):
    write_split(tmp_path)
    run = write_run(tmp_path, "dice", 0, 0.1)
    args = ["figure", "fig7_conformity", str(run), "--splits", str(tmp_path / "splits"),
            "--out-dir", str(tmp_path / "f")]  # fmt: skip
    assert main(args) == 2
    assert "dice-nocon" in capsys.readouterr().err


def figure_runs(tmp_path, name: str) -> list:
    """Fake runs (two seeds unless the figure draws one run) for each figure command."""
    method_sets = {"fig4_bias": [("none", SPLIT), ("bias-u", SPLIT), ("dice", SPLIT)],
                   "fig8a_curriculum": [("dice-a0.1-curriculum", SPLIT), ("dice-a0.1-normal", SPLIT),
                                        ("dice-a0.5-normal", SPLIT)],
                   "fig8b_shares": [("dice", "cap0.9-share0"), ("dice", "cap0.9-share0.1"),
                                    ("cause", "cap0.9-share0.1")]}  # fmt: skip
    runs = []
    for i, (method, split) in enumerate(method_sets[name]):
        runs += [
            write_run(tmp_path, method, s, 0.1 + 0.01 * i + 0.005 * s, split=split) for s in (0, 1)
        ]
    return runs


@pytest.mark.parametrize("name", ["fig4_bias", "fig8a_curriculum", "fig8b_shares"])
def test_every_curve_figure_command_writes_its_files(tmp_path, name):
    runs = figure_runs(tmp_path, name)
    out = tmp_path / "figures"
    assert main(["figure", name, *map(str, runs), "--out-dir", str(out)]) == 0
    data = pd.read_csv(out / f"{name}_ml10m.csv")
    assert (data["n_seeds"] == 2).all() and {"mean", "ci95", "series", "label"} <= set(data.columns)
    assert (out / f"{name}_ml10m.png").stat().st_size > 0


def test_tsne_figure_commands_write_their_files(tmp_path):
    write_split(tmp_path)
    vectors = np.arange(32, dtype=np.float32).reshape(4, 8)
    runs = []
    for method in ("dice", "dice-nocon"):
        run = write_run(tmp_path, method, 0, 0.1)
        np.savez(run / "embeddings.npz", item_interest=vectors, item_conformity=-(vectors**2))
        runs.append(str(run))
    out, splits = tmp_path / "figures", str(tmp_path / "splits")
    assert main(["figure", "fig5b_tsne", runs[0], "--splits", splits, "--out-dir", str(out)]) == 0
    assert (
        main(["figure", "fig7_conformity", *runs, "--splits", splits, "--out-dir", str(out)]) == 0
    )
    assert len(pd.read_csv(out / "fig5b_tsne_ml10m.csv")) == 8  # 4 items × 2 tables
    assert pd.read_csv(out / "fig7_conformity_ml10m.csv")["panel"].nunique() == 2


def test_with_profile_labels_each_row_by_the_profiles_of_its_runs():
    index = pd.DataFrame({"dataset": ["d"] * 4, "split": ["s"] * 4, "backbone": ["mf"] * 4,
                          "method": ["none", "none", "dice", "dice"],
                          "profile": ["fast", "fast", "faithful", "fast"]})  # fmt: skip
    frame = pd.DataFrame({"dataset": ["d", "d", "d"], "method": ["dice", "none", "dice"],
                          "mean": [0.3, 0.2, 0.1]})  # fmt: skip
    labelled = art.with_profile(frame, index)
    assert labelled["profile"].tolist() == ["faithful, fast", "fast", "faithful, fast"]
    assert labelled["mean"].tolist() == [0.3, 0.2, 0.1]  # rows kept in their order
    # no run key in common: one label for the whole frame
    assert art.with_profile(pd.DataFrame({"x": [1]}), index)["profile"].tolist() == [
        "faithful, fast"
    ]
