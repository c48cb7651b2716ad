"""The tuned track (equal-budget grids) and the leaderboard built from hand-written runs."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dice import leaderboard as lb
from dice.cli import main
from dice.config import validate_config
from dice.errors import DiceError
from dice.hpo import grid_points, search_metric
from dice.plan import Plan, hpo_stage
from dice.tracks import equal_budget

# --- the equal budget ----------------------------------------------------------------------------


def space(sizes: dict[str, int]) -> dict[str, list[float]]:
    return {name: [float(i) for i in range(n)] for name, n in sizes.items()}


@pytest.mark.parametrize(
    ("lr", "wd", "knobs", "budget"),
    [(2, 1, {"a": 4}, 4), (3, 3, {}, 9), (3, 3, {"a": 3}, 9), (3, 3, {"a": 3, "b": 3}, 9),
     (2, 2, {"a": 2}, 8), (3, 2, {"a": 4}, 24), (3, 3, {"a": 2}, 5), (2, 3, {"a": 4, "b": 2}, 13)],
)  # fmt: skip
def test_equal_budget_points_are_distinct_and_balanced(lr, wd, knobs, budget):
    shared = space({"lr": lr, "weight_decay": wd})
    points = equal_budget(shared, space(knobs), budget, rng=np.random.default_rng(3))
    assert len(points) == budget
    keys = [tuple(sorted(p.items())) for p in points]
    assert len(set(keys)) == budget  # distinct
    pairs = Counter((p["lr"], p["weight_decay"]) for p in points)
    combos = Counter(tuple(p[k] for k in sorted(knobs)) for p in points)
    n_pairs, n_combos = lr * wd, math.prod(knobs.values())
    # every lr × wd pair used floor or ceil of budget / pairs times (zero counts included)
    counts = [pairs.get(pair, 0) for pair in itertools.product(shared["lr"], shared["weight_decay"])]  # fmt: skip
    assert max(counts) - min(counts) <= 1 and len(pairs) == min(n_pairs, budget)
    counts = [combos.get(c, 0) for c in itertools.product(*(space(knobs)[k] for k in sorted(knobs)))]  # fmt: skip
    assert max(counts) - min(counts) <= 1 and len(combos) == min(n_combos, budget)


def test_a_full_budget_is_the_whole_grid_and_too_large_a_budget_an_error():
    shared, knobs = space({"lr": 2, "weight_decay": 2}), space({"a": 3})
    points = equal_budget(shared, knobs, 12, rng=np.random.default_rng(0))
    whole = {(lr, wd, a) for lr in (0.0, 1.0) for wd in (0.0, 1.0) for a in (0.0, 1.0, 2.0)}
    assert {(p["lr"], p["weight_decay"], p["a"]) for p in points} == whole
    with pytest.raises(DiceError, match="budget 13 exceeds its 4 lr × weight-decay pairs × 3"):
        equal_budget(shared, knobs, 13, rng=np.random.default_rng(0))


TUNED = {
    "datasets": {"toy": {"source": "synthetic", "preset": "tiny"}},
    "backbones": ["mf", "lightgcn"],
    "methods": ["none", "ips-cnsr", "dice", "itempop"],
    "studies": {"tuned": {"methods": ["none", "dice"], "seeds": [0, 1, 2]}},
    "hpo": {"grids": {"ips-cnsr": {"ips_smoothing": [0.25, 0.5]}},
            "tuned": {"budget": 4, "lr": [0.001, 0.01], "weight_decay": [0.0, 1e-6],
                      "knobs": {"dice": {"discrepancy_weight": [0.01, 0.1, 1.0]}}}},
}  # fmt: skip


def test_the_study_tuned_gets_one_key_per_method_with_the_same_budget():
    config = validate_config(TUNED)
    assert config["studies"]["tuned"]["methods"] == ["none-tuned", "dice-tuned"]
    assert config["method_settings"]["dice-tuned"] == {"objective": "dice"}
    assert validate_config(config) == config  # validating again changes nothing
    none, dice = grid_points(config, "none-tuned"), grid_points(config, "dice-tuned")
    assert len(none) == len(dice) == 4
    # BPR has no knobs: its four points are the whole lr × wd grid
    assert sorted((p["lr"], p["weight_decay"]) for p in none) == [
        (0.001, 0.0), (0.001, 1e-6), (0.01, 0.0), (0.01, 1e-6)]  # fmt: skip
    assert {p["discrepancy_weight"] for p in dice} <= {0.01, 0.1, 1.0}
    assert (search_metric(config, "dice-tuned"), search_metric(config, "ips-cnsr")) == (
        "recall@20", "recall@50")  # fmt: skip
    assert hpo_stage(config, "toy", "mf", "dice-tuned").settings["metric"] == "recall@20"
    assert hpo_stage(config, "toy", "mf", "ips-cnsr").settings["metric"] == "recall@50"
    plan = Plan(config)
    tuned = [p.run for p in plan.runs.values() if p.run["method"].endswith("-tuned")]
    assert len(tuned) == 2 * 2 * 3  # methods × backbones × seeds
    assert len(plan.points) == 2 * 2 * 4 + 2 * 2  # tuned points + the faithful ips-cnsr grid


@pytest.mark.parametrize(
    ("change", "message"),
    [({"hpo": {"grids": {}}}, "needs hpo.tuned"),
     ({"hpo": {**TUNED["hpo"], "tuned": {**TUNED["hpo"]["tuned"], "knobs": {"pda": {"popularity_exponent": [0.1]}}}}},
      "names method.s. pda"),
     ({"hpo": {**TUNED["hpo"], "grids": {"dice-tuned": {"lr": [0.1]}}}}, "comes from hpo.tuned"),
     ({"hpo": {**TUNED["hpo"], "tuned": {**TUNED["hpo"]["tuned"], "knobs": {"dice": {"lr": [0.1]}}}}},
      "which every method shares")],
)  # fmt: skip
def test_bad_tuned_specs_are_errors(change, message):
    with pytest.raises(DiceError, match=message):
        validate_config({**TUNED, **change})


def test_a_budget_beyond_a_method_without_knobs_is_an_error_naming_it():
    config = validate_config({**TUNED, "hpo": {"tuned": {**TUNED["hpo"]["tuned"], "budget": 5}}})
    with pytest.raises(DiceError, match="tuned grid of 'none-tuned': budget 5 exceeds"):
        grid_points(config, "none-tuned")


# --- the leaderboard on hand-written runs ---------------------------------------------------------

SPLIT = "cap0.9-share0.1"
# Recall@20 per seed: tuned BPR is the reference of the MF rows.
RECALL = {"none-tuned": [0.20, 0.22, 0.21], "dice-tuned": [0.25, 0.28, 0.26],
          "none": [0.18, 0.19, 0.17], "dice": [0.21, 0.20, 0.24], "itempop": [0.10, 0.10, 0.10]}  # fmt: skip
USERS = {"none-tuned": [0.1, 0.2, 0.3, 0.4], "dice-tuned": [0.3, 0.5, 0.6, 0.9],
         "none": [0.1, 0.1, 0.2, 0.3], "dice": [0.2, 0.3, 0.3, 0.5], "itempop": [0.0, 0.1, 0.1, 0.1]}  # fmt: skip
TOPK = [[0, 1], [0, 2], [1, 3], [0, 1]]  # 4 users, top-2 (k = 2 below: recall@2 is ranked)
COUNTS = [5, 3, 1, 1]  # training counts of the 4 items


def write_split(root: Path) -> Path:
    folder = root / "splits" / "toy" / SPLIT
    folder.mkdir(parents=True)
    items = [i for i, n in enumerate(COUNTS) for _ in range(n)]
    pd.DataFrame({"user": [0] * len(items), "item": items}).to_parquet(folder / "train_normal.parquet")  # fmt: skip
    pd.DataFrame({"user": [], "item": []}, dtype="int64").to_parquet(folder / "train_intervened.parquet")  # fmt: skip
    (folder / "meta.json").write_text(json.dumps({"n_users": 4, "n_items": 4}))
    return root / "splits"


def write_run(root: Path, method: str, seed: int) -> Path:
    run = root / "runs" / method / f"seed{seed}"
    run.mkdir(parents=True)
    recall = RECALL[method][seed]
    metrics = {"test_all_users": {"recall@2": recall, "ndcg@2": recall / 2, "hr@2": 2 * recall}}
    if method.startswith("dice"):
        metrics["disentanglement"] = {"interest_rank_corr": 0.5 + seed / 10, "conformity_rank_corr": None}  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics))
    context = {"dataset": "toy", "split": SPLIT, "backbone": "mf", "method": method, "seed": seed}
    (run / "run.json").write_text(json.dumps({"context": context, "settings": {"train": {"profile": "fast"}}}))  # fmt: skip
    users = [u + seed / 100 for u in USERS[method]]
    pd.DataFrame({"user": range(4), "n_truth": [1, 1, 1, 1], "recall@2": users}).to_parquet(run / "per_user.parquet")  # fmt: skip
    rows = [(u, r, i) for u, items in enumerate(TOPK) for r, i in enumerate(items)]
    pd.DataFrame(rows, columns=["user", "rank", "item"]).to_parquet(run / "topk.parquet")
    return run


def holm_by_hand(p: list[float]) -> list[float]:
    """Holm's step-down: sort, multiply the j-th smallest by (m - j), running maximum, cap at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - j) * p[i]))
        out[i] = running
    return out


def paired_t_p(a: list[float], b: list[float]) -> float:
    d = np.subtract(a, b)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    return float(2 * sps.t.sf(abs(t), len(d) - 1))


@pytest.fixture
def board(tmp_path) -> tuple[pd.DataFrame, Path, list[Path]]:
    splits = write_split(tmp_path)
    runs = [write_run(tmp_path, m, s) for m in RECALL for s in range(3)]
    from dice import artefacts as art

    index = lb.with_tracks(art.run_index(runs, need=("per_user.parquet", "topk.parquet")))
    values = lb.run_values(index, splits_root=splits, k=2)
    table = lb.leaderboard_frame(values, lb.per_user_tables(index), metric="recall@2")
    return table, splits, runs


def test_leaderboard_ranks_per_track_and_tests_against_tuned_bpr(board):
    table, _, _ = board
    rows = table.set_index(["track", "method"])
    assert table[["track", "method", "rank"]].values.tolist() == [
        ["tuned", "dice", 1], ["tuned", "none", 2],
        ["faithful", "dice", 1], ["faithful", "none", 2], ["faithful", "itempop", 3]]  # fmt: skip
    assert rows.loc[("tuned", "none"), "reference"] is None
    assert rows.loc[("faithful", "dice"), "delta"] == pytest.approx(np.mean(RECALL["dice"]) - 0.21)
    ci = sps.t.ppf(0.975, 2) * np.std(RECALL["dice-tuned"], ddof=1) / math.sqrt(3)
    assert rows.loc[("tuned", "dice"), "recall@2 ci95"] == pytest.approx(ci)
    tested = [
        ("tuned", "dice"),
        ("faithful", "dice"),
        ("faithful", "none"),
        ("faithful", "itempop"),
    ]
    key = {("tuned", "dice"): "dice-tuned", ("faithful", "dice"): "dice",
           ("faithful", "none"): "none", ("faithful", "itempop"): "itempop"}  # fmt: skip
    p = [paired_t_p(RECALL[key[r]], RECALL["none-tuned"]) for r in tested]
    assert rows.loc[tested, "p_seeds"].tolist() == pytest.approx(p)
    assert rows.loc[tested, "p_seeds_holm"].tolist() == pytest.approx(holm_by_hand(p))
    # per user: each user's mean over seeds 0-2 is its base value + 0.01; four users, all better
    assert rows.loc[("tuned", "dice"), "p_users"] == pytest.approx(
        sps.wilcoxon([0.3, 0.5, 0.6, 0.9], [0.1, 0.2, 0.3, 0.4]).pvalue)  # fmt: skip


def test_leaderboard_has_popularity_bias_and_disentanglement_beside_accuracy(board):
    table, _, _ = board
    row = table.set_index(["track", "method"]).loc[("tuned", "dice")]
    # top-2 lists [0,1] [0,2] [1,3] [0,1] of items with counts 5, 3, 1, 1
    assert row["avg_popularity@2"] == pytest.approx(np.mean([4.0, 3.0, 2.0, 4.0]))
    assert row["coverage@2"] == pytest.approx(1.0)
    assert row["interest_rank_corr"] == pytest.approx(0.6)
    assert "conformity_rank_corr" not in table.columns  # None scores are left out
    assert np.isnan(table.set_index(["track", "method"]).loc[("faithful", "none"), "interest_rank_corr"])  # fmt: skip


def test_leaderboard_command_writes_the_table_and_the_figure(board, tmp_path):
    _, splits, runs = board
    main(["leaderboard", *map(str, runs), "--dataset", "toy", "--splits", str(splits),
          "--metric", "recall@2", "--budget", "9", "--out-dir", str(tmp_path / "t"),
          "--figures-dir", str(tmp_path / "f"), "--formats", "png"])  # fmt: skip
    md = (tmp_path / "t/leaderboard_toy.md").read_text()
    assert "9 grid points per method, selected on validation recall@2" in md
    assert "| toy       | MF         | tuned    | 1      | DICE" in md
    assert (tmp_path / "f/leaderboard_toy.png").stat().st_size > 0
    assert len(pd.read_csv(tmp_path / "t/leaderboard_toy.csv")) == 5


# --- both tracks through the workflow ------------------------------------------------------------

TINY_TUNED = {
    "datasets": {"tiny": {"source": "synthetic", "preset": "tiny"}},
    "backbones": ["mf"],
    "methods": ["none", "dice", "itempop"],
    "profile": "smoke",
    "train": {"max_epochs": 2},
    "studies": {"tuned": {"methods": ["none", "dice"], "seeds": [0, 1]}},
    "hpo": {"tuned": {"budget": 2, "lr": [0.001, 0.01], "weight_decay": [0.0],
                      "knobs": {"dice": {"discrepancy_weight": [0.01, 0.1]}}}},
}  # fmt: skip


@pytest.mark.slow
def test_both_tracks_run_through_the_workflow_into_the_leaderboard(tmp_path):
    import yaml

    from tests.test_workflow import snakemake

    config = tmp_path / "tunedtiny.yaml"
    config.write_text(yaml.safe_dump(TINY_TUNED))
    result = snakemake("all", "--cores", "2", "--configfile", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    points = list((tmp_path / "results/hpo").glob("*/tiny/*/mf/*-tuned/p*/metrics.json"))
    assert len(points) == 2 * 2  # two methods × the budget: every point kept
    table = pd.read_csv(tmp_path / "results/tunedtiny/tables/leaderboard_tiny.csv")
    tracks = table.groupby("track")["method"].apply(set).to_dict()
    assert tracks == {"faithful": {"none", "dice", "itempop"}, "tuned": {"none", "dice"}}
    assert set(table.loc[table["track"] == "tuned", "n_seeds"]) == {2}
    assert table.loc[table["method"] == "dice", "interest_rank_corr"].notna().all()
    assert (tmp_path / "results/tunedtiny/figures/leaderboard_tiny.png").exists()
