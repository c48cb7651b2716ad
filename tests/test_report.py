"""Table builders on small synthetic result files written here (not real runs).

Every expected value is derived in the test from the numbers the test writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dice import artefacts as art
from dice import paper, report
from dice.cli import main
from dice.errors import DiceError

SPLIT = "cap0.9-share0.1"
NAMES = ("recall@20", "hr@20", "ndcg@20", "recall@50", "hr@50", "ndcg@50")
PAPER = {
    "datasets": {"ml10m": "Movielens-10M"},
    "table1": {"Movielens-10M": {"users": 37962, "items": 4819, "interactions": 1371473,
                                 "entropy_train": 6.22, "entropy_test": 7.97}},
    "table2": {"Movielens-10M": {"mf": {"none": {"recall@20": 0.1286}, "dice": {"recall@20": 0.1634}}}},
    "table3": {"Movielens-10M": {"mf": {"dice-random": {"recall@20": 0.1274}}}},
    "discrepancy_seconds_per_epoch": {"dice": 100, "dice-l1": 44},
}  # fmt: skip


MINI_CONFIG = """
datasets:
  toy: {source: synthetic, preset: small}
backbones: [mf]
methods: [none, dice]
seeds: [0, 1]
method_settings:
  dice-random: {objective: dice, negatives: random}
studies:
  table3_negatives: {methods: [dice, dice-random]}
"""


def write_run(root: Path, method: str, seed: int, value: float, *, dataset: str = "ml10m",
              backbone: str = "mf", split: str = SPLIT, per_user: list[float] | None = None,
              topk: dict[str, list[list[int]]] | None = None, **extra) -> Path:  # fmt: skip
    """A run folder: metric j of NAMES is value + 0.01 j (all-users average); `test` is +0.5."""
    run = root / "runs" / dataset / split / backbone / method / f"seed{seed}"
    run.mkdir(parents=True)
    values = {name: value + 0.01 * j for j, name in enumerate(NAMES)}
    metrics = {"test_all_users": values, "test": {k: v + 0.5 for k, v in values.items()}, **extra}
    (run / "metrics.json").write_text(json.dumps(metrics, sort_keys=True))  # as dice.io writes it
    context = {
        "dataset": dataset,
        "split": split,
        "backbone": backbone,
        "method": method,
        "seed": seed,
    }
    (run / "run.json").write_text(json.dumps({"context": context}))
    if per_user is not None:
        frame = pd.DataFrame(
            {"user": range(len(per_user)), "n_truth": [1, 2, 0, 1, 3][: len(per_user)]}
        )
        pd.concat([frame, pd.DataFrame({n: per_user for n in NAMES})], axis=1).to_parquet(
            run / "per_user.parquet")  # fmt: skip
    for name, lists in (topk or {}).items():
        rows = [(u, r, i) for u, items in enumerate(lists) for r, i in enumerate(items)]
        pd.DataFrame(rows, columns=["user", "rank", "item"]).to_parquet(run / f"{name}.parquet")
    return run


DICE_USERS = [0.5, 0.6, 0.0, 0.7, 0.8]  # user 2 has no test item (n_truth 0)
IPS_USERS = [0.1, 0.2, 0.0, 0.3, 0.35]


@pytest.fixture
def table2_runs(tmp_path) -> list[Path]:
    runs = []
    for seed, (none, ips, dice) in enumerate(
        [(0.10, 0.11, 0.20), (0.12, 0.13, 0.21), (0.14, 0.15, 0.25)]
    ):
        runs.append(write_run(tmp_path, "none", seed, none, per_user=IPS_USERS))
        runs.append(write_run(tmp_path, "ips", seed, ips, per_user=IPS_USERS))
        runs.append(write_run(tmp_path, "dice", seed, dice, per_user=DICE_USERS))
    return runs


def test_table2_cells_paper_gap_and_tests(table2_runs):
    table = report.table2_frame(art.run_index(table2_runs), paper=PAPER)
    assert list(table.columns[: len(report.TABLE2_COLUMNS)]) == report.TABLE2_COLUMNS
    assert {"paper", "gap", "average", *report.TEST_COLUMNS} <= set(table.columns)
    assert table["method"].drop_duplicates().tolist() == ["none", "ips", "dice"]  # paper order
    cell = table.set_index(["method", "metric", "k"])
    none = cell.loc[("none", "recall", 20)]
    # seeds 0.10, 0.12, 0.14: mean 0.12, s 0.02, half = t_{.975,2} 0.02 / sqrt 3 = 0.049683
    assert (none["mean"], none["std"], none["n_seeds"]) == pytest.approx((0.12, 0.02, 3))
    assert none["ci95"] == pytest.approx(0.049683, abs=1e-6)
    assert none["paper"] == 0.1286 and none["gap"] == pytest.approx(0.12 / 0.1286 - 1)
    assert np.isnan(cell.loc[("ips", "recall", 20), "paper"])  # not in PAPER
    assert cell.loc[("none", "ndcg", 50), "mean"] == pytest.approx(0.17)  # 0.12 + 0.01 * 5
    dice = cell.loc[("dice", "recall", 20)]
    assert dice["best_baseline"] == "ips" and dice["versus_mean"] == pytest.approx(0.13)
    p_seeds = sps.ttest_rel([0.20, 0.21, 0.25], [0.11, 0.13, 0.15]).pvalue
    assert dice["p_seeds"] == pytest.approx(p_seeds)
    # six metric@k cells share the same differences: Holm multiplies the common p by 6
    assert dice["p_seeds_holm"] == pytest.approx(6 * p_seeds)
    # four users with test items, all in favour of DICE: exact p = 2 / 2^4; Holm: 6 × 0.125
    assert dice["p_users"] == pytest.approx(0.125) and dice["p_users_holm"] == pytest.approx(0.75)
    assert table.loc[table["method"] != "dice", "p_seeds"].isna().all()


def test_table2_reads_the_requested_average(table2_runs):
    table = report.table2_frame(art.run_index(table2_runs), paper=PAPER, average="test")
    row = table[(table["method"] == "none") & (table["metric"] == "recall") & (table["k"] == 20)]
    assert row["mean"].iloc[0] == pytest.approx(0.62)


def test_table2_markdown_marks_significant_dice_cells(table2_runs):
    table = report.table2_frame(art.run_index(table2_runs), paper=PAPER)
    wide = report.display(table)
    assert list(wide.columns[:3]) == ["Dataset", "Backbone", "Method"]
    assert list(wide.columns[3:]) == [
        "Recall@20",
        "HR@20",
        "NDCG@20",
        "Recall@50",
        "HR@50",
        "NDCG@50",
    ]
    rows = wide.set_index("Method")
    assert rows.loc["None", "Recall@20"] == "0.1200 ± 0.0497 (0.1286, -6.7%)"
    # Holm p over seeds 6 × 0.0041 < 0.05 → †; per-user 0.75 → no *
    assert rows.loc["DICE", "Recall@20"].endswith("†") and "*" not in rows.loc["DICE", "Recall@20"]
    assert not rows.loc["IPS", "HR@20"].endswith("†")


def test_single_seed_has_no_interval_and_no_seed_test(tmp_path):
    runs = [write_run(tmp_path, "none", 0, 0.1, per_user=IPS_USERS),
            write_run(tmp_path, "dice", 0, 0.2, per_user=DICE_USERS)]  # fmt: skip
    table = report.table2_frame(art.run_index(runs), paper=PAPER)
    dice = table[
        (table["method"] == "dice") & (table["metric"] == "recall") & (table["k"] == 20)
    ].iloc[0]
    assert np.isnan(dice["ci95"]) and np.isnan(dice["p_seeds"])
    assert dice["p_users"] == pytest.approx(0.125)
    assert report.cell_text(dice["mean"], dice["ci95"]) == "0.2000"


def test_missing_runs_are_named(tmp_path, table2_runs):
    gone = tmp_path / "runs" / "ml10m" / SPLIT / "mf" / "cause" / "seed0"
    half = write_run(tmp_path, "ips-c", 0, 0.1)
    (half / "run.json").unlink()
    with pytest.raises(DiceError) as err:
        art.run_index([*table2_runs, gone / "metrics.json", half])
    message = str(err.value)
    assert "2 run(s)" in message and str(gone) in message and f"{half} (run.json)" in message
    with pytest.raises(DiceError, match="per_user.parquet"):
        art.run_index([write_run(tmp_path, "ips-cn", 0, 0.1)], need=("per_user.parquet",))


def test_table_command_writes_csv_markdown_latex(tmp_path, table2_runs, capsys):
    out = tmp_path / "tables"
    files = [str(r / "metrics.json") for r in table2_runs]
    assert main(["table", *files, "--out", str(out / "t2.csv"), "--markdown", str(out / "t2.md"),
                 "--latex", str(out / "t2.tex")]) == 0  # fmt: skip
    csv = pd.read_csv(out / "t2.csv")
    assert len(csv) == 3 * 6 and set(csv["method"]) == {"none", "ips", "dice"}
    assert "Paired tests" in (out / "t2.md").read_text()
    tex = (out / "t2.tex").read_text()
    assert r"\begin{tabular}" in tex and r"$\pm$" in tex and r"\%" in tex
    missing = str(tmp_path / "runs" / "nowhere" / "seed0" / "metrics.json")
    assert main(["table2", missing, "--out", str(out / "x.csv")]) == 2
    assert "nowhere" in capsys.readouterr().err


def place_as_planned(root: Path, config: Path) -> None:
    """Move run folders written at runs/<run name> to the folder the config's plan gives them."""
    from dice.config import load_config
    from dice.plan import all_runs, run_name

    for run in all_runs(load_config(config)):
        written, planned = root / "runs" / run_name(run), root / "runs" / run["dir"]
        if written.exists():
            planned.parent.mkdir(parents=True, exist_ok=True)
            written.rename(planned)


def test_runs_from_config_missing_run_named(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(MINI_CONFIG)
    write_run(tmp_path, "dice", 0, 0.2, dataset="toy", per_user=DICE_USERS)
    place_as_planned(tmp_path, config)
    code = main(["table3", "--config", str(config), "--dataset", "toy",
                 "--runs-root", str(tmp_path / "runs"), "--out-dir", str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "3 run(s) missing" in err
    assert "toy/cap0.9-share0.1/mf/dice-random/seed1" in err and "mf/dice/seed1" in err


def test_table1_ours_beside_the_paper(tmp_path):
    stats = tmp_path / "splits" / "ml10m" / SPLIT / "stats.json"
    stats.parent.mkdir(parents=True)
    stats.write_text(json.dumps({"users": 10, "items": 5, "interactions": 40,
                                 "entropy": {"train": 1.5, "test": 1.6, "train_normal": 1.4}}))  # fmt: skip
    table = report.table1_frame([stats], paper=PAPER)
    assert table[["dataset", "source", "users", "entropy_test"]].values.tolist() == [
        ["ml10m", "ours", 10, 1.6], ["Movielens-10M", "paper", 37962, 7.97]]  # fmt: skip
    shown = report.table1_display(table)
    assert shown.loc[1, "Interactions"] == "1,371,473" and shown.loc[0, "Ent. train"] == "1.50"
    with pytest.raises(DiceError, match="stats.json"):
        report.table1_frame([tmp_path / "none" / "x" / "stats.json"], paper=PAPER)


def test_table3_pnsm_vs_random(tmp_path):
    runs = [
        write_run(tmp_path, "dice", s, v, per_user=DICE_USERS) for s, v in enumerate([0.2, 0.3])
    ]
    runs += [
        write_run(tmp_path, "dice-random", s, v, per_user=IPS_USERS)
        for s, v in enumerate([0.1, 0.15])
    ]
    table = report.table3_frame(art.run_index(runs), paper=PAPER)
    cell = table.set_index(["negatives", "metric", "k"])
    assert cell.loc[("RANDOM", "recall", 20), "mean"] == pytest.approx(0.125)
    assert cell.loc[("RANDOM", "recall", 20), "paper"] == 0.1274
    p = sps.ttest_rel([0.2, 0.3], [0.1, 0.15]).pvalue
    assert cell.loc[("PNSM", "recall", 20), "p_seeds"] == pytest.approx(p)
    assert "best_baseline" not in table.columns
    with pytest.raises(DiceError, match="dice-random"):
        report.table3_frame(art.run_index(runs[:2]), paper=PAPER)


def test_discrepancy_accuracy_and_seconds(tmp_path):
    runs = [write_run(tmp_path, m, s, 0.1, seconds_per_epoch=sec)
            for m, secs in (("dice", (10.0, 14.0)), ("dice-l1", (4.0, 4.0)), ("dice-l2", (5.0, 7.0)))
            for s, sec in enumerate(secs)]  # fmt: skip
    table = report.discrepancy_frame(art.run_index(runs), paper=PAPER)
    seconds = table[table["metric"] == "seconds_per_epoch"].set_index("method")
    assert seconds["mean"].to_dict() == pytest.approx(
        {"dice": 12.0, "dice-l1": 4.0, "dice-l2": 6.0}
    )
    assert seconds.loc["dice", "paper"] == 100 and np.isnan(seconds.loc["dice-l2", "paper"])
    shown = report.display(table, rows=("Dataset", "Backbone", "Discrepancy"))
    shown = shown.set_index("Discrepancy")
    # dice: 12 ± t_{.975,1} · 2.828 / √2 = 12 ± 12.7062 · 2 = 25.4
    assert shown.loc["DICE", "s / epoch"] == "12.0 ± 25.4 (paper ≈ 100)"
    assert shown.loc["L1-inv", "Recall@20"].startswith("0.1000 ± 0.0000")


def write_split(root: Path, dataset: str = "ml10m", split: str = SPLIT) -> Path:
    """Items 0..3 with training counts 5, 3, 1, 0 (normal + intervened), two users."""
    folder = root / "splits" / dataset / split
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"n_users": 2, "n_items": 4}))
    normal = pd.DataFrame({"user": [0, 0, 0, 1, 1, 1, 1], "item": [0, 0, 1, 0, 1, 2, 0]})
    intervened = pd.DataFrame({"user": [1, 0], "item": [1, 0]})
    normal.astype("int64").to_parquet(folder / "train_normal.parquet")
    intervened.astype("int64").to_parquet(folder / "train_intervened.parquet")
    return folder


def test_popularity_bias_hand_values(tmp_path):
    write_split(tmp_path)
    run = write_run(tmp_path, "dice", 0, 0.1, topk={"topk": [[0, 1, 2], [1, 2, 3]]})
    table = report.popularity_frame(art.run_index([run]), splits_root=tmp_path / "splits", ks=[2])
    values = table.set_index("metric")["mean"]
    # k = 2: user 0 gets items 0, 1 (pop 5, 3), user 1 items 1, 2 (3, 1): mean of 4 and 2 = 3
    assert values["avg_popularity"] == pytest.approx(3.0)
    # head = item 0 (5 ≥ 20 % of 9); slots 0, 1, 1, 2 → 3 of 4 in the long tail
    assert values["long_tail_share"] == pytest.approx(0.75)
    # exposure 1, 2, 1, 0 → sorted 0, 1, 1, 2: (−3·0 − 1·1 + 1·1 + 3·2) / (4 · 4) = 0.375
    assert values["gini"] == pytest.approx(0.375)
    assert values["coverage"] == pytest.approx(0.75)
    assert list(report.display(table).columns[3:]) == [
        "Avg. pop.@2", "Long-tail share@2", "Gini@2", "Coverage@2"]  # fmt: skip


def test_iou_with_itempop_hand_values(tmp_path):
    pop = [[0, 2, 3], [3, 2, 1]]
    write_run(tmp_path, "itempop", 0, 0.0, topk={"topk": pop})
    write_run(tmp_path, "dice", 0, 0.1, topk={"topk": [[0, 1, 2], [3, 2, 1]], "topk_interest": [[1, 0, 2], [0, 1, 2]],
                                               "topk_conformity": pop})  # fmt: skip
    write_run(tmp_path, "ips", 0, 0.1, topk={"topk": [[1, 0, 3], [0, 1, 2]]})
    index = art.run_index(sorted((tmp_path / "runs").rglob("metrics.json")))
    values = art.iou_values(index)
    iou = values.groupby(["method", "k"])["value"].mean()
    # DICE user 0: {0}/{0} = 1, {0,1}/{0,2}: 1/3, {0,1,2}/{0,2,3}: 2/4; user 1 identical: 1, 1, 1
    assert [iou[("dice", k)] for k in (1, 2, 3)] == pytest.approx([1.0, 2 / 3, 0.75])
    assert [iou[("dice-con", k)] for k in (1, 2, 3)] == pytest.approx([1.0, 1.0, 1.0])
    # DICE-int user 0: 0, 1/3, 2/4; user 1 vs 3,2,1: 0, 0, 2/4
    assert [iou[("dice-int", k)] for k in (1, 2, 3)] == pytest.approx([0.0, 1 / 6, 0.5])
    assert set(iou.index.get_level_values("method")) == {"dice", "dice-int", "dice-con", "ips"}
    with pytest.raises(DiceError, match="itempop"):
        art.iou_values(index[index["method"] != "itempop"])


def test_curriculum_values_parse_alpha_and_mode(tmp_path):
    runs = [write_run(tmp_path, f"dice-a{a:g}-{mode}", 0, v)
            for a, mode, v in ((0.1, "curriculum", 0.2), (0.1, "normal", 0.15), (0.5, "normal", 0.1))]  # fmt: skip
    frame = art.curriculum_values(art.run_index(runs))
    first = frame[(frame["metric"] == "recall") & (frame["k"] == 20)]
    assert first[["alpha", "mode", "value"]].values.tolist() == [
        [0.1, "curriculum", 0.2], [0.1, "normal", 0.15], [0.5, "normal", 0.1]]  # fmt: skip


def test_tsne_items_tertiles_and_table_labels(tmp_path):
    write_split(tmp_path)
    run = write_run(tmp_path, "dice", 0, 0.1)
    vectors = np.arange(32, dtype=np.float32).reshape(4, 8)
    np.savez(run / "embeddings.npz", item_interest=vectors, item_conformity=-vectors)
    points = art.tsne_items(art.run_index([run]).iloc[0], tables=("interest", "conformity"),
                            splits_root=tmp_path / "splits")  # fmt: skip
    assert points["table"].tolist() == ["interest"] * 4 + ["conformity"] * 4
    # counts 5, 3, 1, 0 → thirds by rank (4 items: 0·3//4, 1·3//4, …) = popular, popular, normal, unpopular
    assert points["group"].tolist()[:4] == ["popular", "popular", "normal", "unpopular"]
    assert np.isfinite(points[["x", "y"]].to_numpy()).all()


def test_paper_values_file_ships_in_the_package_with_every_table2_cell():
    published = paper.load_paper()  # dice/paper_results.yaml, read through importlib.resources
    for dataset in ("Movielens-10M", "Netflix"):
        for backbone in ("mf", "lightgcn"):
            methods = published["table2"][dataset][backbone]
            assert list(methods) == list(report.TABLE2_METHODS)
            assert all(set(cells) == set(NAMES) for cells in methods.values())
    cells = paper.paper_cells(published, "table2").set_index(
        ["dataset", "backbone", "method", "metric", "k"]
    )
    assert cells.loc[("ml10m", "lightgcn", "dice", "ndcg", 50), "paper"] == 0.1629
    assert cells.loc[("netflix", "mf", "none", "hr", 20), "paper"] == 0.5194
    assert "ml100k" not in set(cells.index.get_level_values("dataset"))
    table3 = paper.paper_cells(published, "table3").set_index(["dataset", "method", "metric", "k"])
    assert table3.loc[("ml10m", "dice-random", "recall", 20), "paper"].item() == 0.1274
    with pytest.raises(DiceError, match="nowhere.yaml"):
        paper.load_paper(Path("nowhere.yaml"))


def test_table3_command_takes_runs_from_the_config(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(MINI_CONFIG)
    for seed, (pnsm, rand) in enumerate([(0.2, 0.1), (0.3, 0.15)]):
        write_run(tmp_path, "dice", seed, pnsm, dataset="toy", per_user=DICE_USERS)
        write_run(tmp_path, "dice-random", seed, rand, dataset="toy", per_user=IPS_USERS)
    place_as_planned(tmp_path, config)
    out = tmp_path / "tables"
    args = ["--config", str(config), "--runs-root", str(tmp_path / "runs"), "--out-dir", str(out)]
    assert main(["table3", *args, "--dataset", "toy"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        f"table3_toy.{s}" for s in ("csv", "html", "md", "tex")
    ]
    md = (out / "table3_toy.md").read_text()
    row = next(line for line in md.splitlines() if "RANDOM" in line and "toy" in line)
    # 0.125 ± t_{.975,1} · s / √2 = 12.7062 · 0.035355 / 1.41421
    assert [c.strip() for c in row.strip("|").split("|")][:4] == [
        "toy",
        "MF",
        "RANDOM",
        "0.1250 ± 0.3177",
    ]
    assert "Paired tests" in md and "random negatives" in md
    assert "2 seeds per cell" in md and "95% t-interval" in md
    # the main grid (none, dice) lacks the `none` runs: Table 2 names them
    assert main(["table2", *args]) == 2
    assert "toy/cap0.9-share0.1/mf/none/seed0" in capsys.readouterr().err


def test_popularity_bias_command(tmp_path):
    write_split(tmp_path)
    run = write_run(tmp_path, "dice", 0, 0.1, topk={"topk": [[0, 1, 2], [1, 2, 3]]})
    out = tmp_path / "tables"
    args = [
        "popularity-bias",
        str(run),
        "--splits",
        str(tmp_path / "splits"),
        "--ks",
        "2",
        "--out-dir",
        str(out),
    ]
    assert main(args) == 0
    table = pd.read_csv(out / "popularity_bias_ml10m.csv").set_index("metric")
    assert table.loc["gini", "mean"] == pytest.approx(0.375)
    assert table.loc["long_tail_share", "mean"] == pytest.approx(0.75)
    md = (out / "popularity_bias_ml10m.md").read_text()
    assert "Avg. pop.@2" in md and "holds 20% of training" in md and "1 seed per cell" in md
    # a head of 60 % of the 9 interactions: items 0 (5) and 1 (3) → only item 2's slot is long-tail
    assert main([*args, "--long-tail-head", "0.6"]) == 0
    table = pd.read_csv(out / "popularity_bias_ml10m.csv").set_index("metric")
    assert table.loc["long_tail_share", "mean"] == pytest.approx(0.25)
    assert "holds 60% of training" in (out / "popularity_bias_ml10m.md").read_text()


def test_popularity_ks_default_to_those_of_the_results(tmp_path):
    write_split(tmp_path)
    topk = [list(range(4)) * 13, [3, 2, 1, 0] * 13]  # 52 items per user (ids repeat, fine here)
    run = write_run(tmp_path, "dice", 0, 0.1, topk={"topk": [t[:50] for t in topk]})
    out = tmp_path / "tables"
    assert (
        main(
            [
                "popularity-bias",
                str(run),
                "--splits",
                str(tmp_path / "splits"),
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "popularity_bias_ml10m.csv")
    assert sorted(table["k"].unique()) == [20, 50]  # the metrics.json of write_run: @20 and @50


def test_paired_tests_state_the_direction_of_every_test(tmp_path):
    # DICE better than IPS on metric j = 0..5 only where its per-seed values are higher: make
    # DICE 0.02 below IPS on every cell, so each test is one where DICE is worse
    runs = []
    for seed, (ips, dice) in enumerate([(0.20, 0.18), (0.22, 0.21), (0.25, 0.22)]):
        runs.append(write_run(tmp_path, "ips", seed, ips, per_user=IPS_USERS))
        runs.append(write_run(tmp_path, "dice", seed, dice, per_user=DICE_USERS))
    table = report.table2_frame(art.run_index(runs), paper=PAPER)
    tests = report.tests_display(table)
    assert len(tests) == 6 and set(tests["Versus"]) == {"IPS"}
    assert set(tests["DICE − versus"]) == {
        "-0.0200 (worse)"
    }  # means 0.2033… − 0.2233… on every cell
    wide = report.display(table).set_index("Method")
    assert not wide.loc["DICE", "Recall@20"].endswith(("†", "*"))  # worse: never marked


def test_better_direction_and_the_significance_level_option(table2_runs, tmp_path):
    table = report.table2_frame(art.run_index(table2_runs), paper=PAPER)
    tests = report.tests_display(table).set_index("Metric")
    # DICE 0.22 vs IPS 0.13 on recall@20 (means over seeds of 0.20, 0.21, 0.25 and 0.11, 0.13, 0.15)
    assert tests.loc["Recall@20", "DICE − versus"] == "+0.0900 (better)"
    # Holm p over seeds is 6 × 0.0041 ≈ 0.025: marked at 0.05, not at 0.01
    p = 6 * sps.ttest_rel([0.20, 0.21, 0.25], [0.11, 0.13, 0.15]).pvalue
    assert 0.01 < p < 0.05
    assert (
        report.display(table, significance=0.05)
        .set_index("Method")
        .loc["DICE", "Recall@20"]
        .endswith("†")
    )
    strict = report.display(table, significance=0.01).set_index("Method")
    assert not strict.loc["DICE", "Recall@20"].endswith("†")
    out = tmp_path / "t"
    files = [str(r / "metrics.json") for r in table2_runs]
    assert main(["table2", *files, "--out-dir", str(out), "--significance", "0.01"]) == 0
    md = (out / "table2.md").read_text()
    assert "p < 0.01" in md and "DICE − versus" in md and "3 seeds per cell" in md


def test_table1_from_config_reads_each_dataset_main_split(tmp_path, monkeypatch):
    # a parity dataset's main split is the authors' own ("parity"), not cap…-share…
    config = tmp_path / "config.yaml"
    config.write_text("datasets:\n  toy: {source: synthetic, preset: tiny}\n"
                      "  parity10m: {source: dice-ml10m}\n"
                      "backbones: [mf]\nmethods: [none]\nseeds: [0]\n")  # fmt: skip
    from dice.config import load_config
    from dice.plan import main_split

    resolved = load_config(config)
    for dataset, split, users in (("toy", SPLIT, 10), ("parity10m", "parity", 20)):
        folder = tmp_path / main_split(resolved, dataset).dir  # the plan's folder of that split
        assert folder.name == split
        folder.mkdir(parents=True)
        (folder / "stats.json").write_text(json.dumps({"users": users, "items": 5, "interactions": 40,
                                                       "entropy": {"train": 1.5, "test": 1.6}}))  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert main(["table1", "--config", str(config), "--out-dir", "out"]) == 0
    ours = pd.read_csv(tmp_path / "out" / "table1.csv").query("source == 'ours'")
    assert ours[["dataset", "split", "users"]].values.tolist() == [
        ["toy", SPLIT, 10], ["parity10m", "parity", 20]]  # fmt: skip


def test_latex_and_html_come_from_pandas_with_symbols(table2_runs):
    table = report.table2_frame(art.run_index(table2_runs), paper=PAPER)
    texts = report.render(report.display(table), caption="Table 2: a_b & 5%", label="tab:t2",
                          tests=report.tests_display(table))  # fmt: skip
    assert r"\caption{Table 2: a\_b \& 5\%}" in texts["tex"] and r"\label{tab:t2}" in texts["tex"]
    assert r"$^\dagger$" in texts["tex"] and "±" not in texts["tex"]
    assert "<table" in texts["html"] and "(better)" in texts["html"]
    header = texts["md"].splitlines()[2]
    assert [c.strip() for c in header.strip("|").split("|")][:4] == [
        "Dataset",
        "Backbone",
        "Method",
        "Recall@20",
    ]


@pytest.mark.parametrize("rst", sorted((Path(__file__).parents[1] / "workflow" / "report").glob("*.rst")),
                         ids=lambda p: p.stem)  # fmt: skip
def test_report_captions_render_and_state_no_fixed_run_facts(rst):
    """Snakemake renders captions with Jinja (``snakemake.wildcards``) and then as reST."""
    from types import SimpleNamespace

    import jinja2
    from docutils.core import publish_parts

    snakemake = SimpleNamespace(wildcards=SimpleNamespace(dataset="toy"))
    text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(rst.read_text())
    rendered = text.render(snakemake=snakemake)
    html = publish_parts(rendered, writer="html", settings_overrides={"report_level": 2,
                                                                          "halt_level": 2})["body"]  # fmt: skip
    assert html.strip()
    # the caps, seeds and interval level of a given run set are stated by the artefact itself
    assert not re.search(r"0\.5, 0\.7|95 %|± 95|0\.01 to 0\.5|0 % to 20 %", rendered)
