"""Grid search: the grid, where overrides go, and which point is chosen."""

from __future__ import annotations

import json

import pytest

from dice.config import run_settings, validate_config
from dice.errors import DiceError
from dice.hpo import apply_overrides, grid_points, select

CONFIG = validate_config(
    {
        "datasets": {"toy": {"source": "synthetic", "preset": "tiny"}},
        "methods": ["ips-cnsr"],
        "hpo": {"grids": {"ips-cnsr": {"ips_smoothing": [0.25, 0.5], "lr": [0.01, 0.001]}}},
    }
)


def test_grid_is_the_cartesian_product_in_sorted_key_order():
    assert grid_points(CONFIG, "ips-cnsr") == [
        {"ips_smoothing": 0.25, "lr": 0.01},
        {"ips_smoothing": 0.25, "lr": 0.001},
        {"ips_smoothing": 0.5, "lr": 0.01},
        {"ips_smoothing": 0.5, "lr": 0.001},
    ]
    assert grid_points(CONFIG, "none") == []


def test_overrides_go_to_the_model_or_the_train_settings():
    settings = run_settings(CONFIG, method="ips-cnsr", backbone="mf")
    out = apply_overrides(settings, {"ips_smoothing": 0.25, "lr": 0.001})
    assert out["model"]["ips_smoothing"] == 0.25 and out["train"]["lr"] == 0.001
    assert settings["train"]["lr"] == 0.01  # the input is not modified
    with pytest.raises(DiceError, match="unknown hyperparameter 'lrr'"):
        apply_overrides(settings, {"lrr": 1})


def test_best_validation_point_is_chosen_and_ties_go_to_the_first(tmp_path):
    points = grid_points(CONFIG, "ips-cnsr")
    files = []
    for index, value in enumerate([0.20, 0.31, 0.31, 0.10]):
        path = tmp_path / f"p{index}.json"
        path.write_text(json.dumps({"valid": {"recall@50": value}}))
        files.append(path)
    selection = select(points, files, metric="recall@50")
    assert selection["chosen"] == points[1]
    assert [row["valid"] for row in selection["points"]] == [0.20, 0.31, 0.31, 0.10]


def test_unknown_grid_key_is_an_error():
    config = {**CONFIG, "hpo": {"grids": {"dice": {"alpha": [0.1]}}}}
    with pytest.raises(DiceError, match="unknown key"):
        grid_points(config, "dice")


# --- a hand-written grid and hand-written validation results -----------------------------------

# `lr` is the run's own learning rate (for DICE resolved from train.lr_dice) and can be tuned.
GRID = validate_config({"datasets": {"toy": {"source": "synthetic", "preset": "tiny"}},
                        "hpo": {"grids": {"dice": {"margin_up": [40.0, 20.0],
                                                   "lr": [0.01, 0.001, 0.1]}}}})  # fmt: skip
# keys sorted (lr < margin_up), values in their written order, the last key varying fastest
GRID_POINTS = [
    {"lr": 0.01, "margin_up": 40.0},
    {"lr": 0.01, "margin_up": 20.0},
    {"lr": 0.001, "margin_up": 40.0},
    {"lr": 0.001, "margin_up": 20.0},
    {"lr": 0.1, "margin_up": 40.0},
    {"lr": 0.1, "margin_up": 20.0},
]


def test_grid_points_of_a_hand_written_grid():
    assert grid_points(GRID, "dice") == GRID_POINTS
    assert grid_points(GRID, "none") == [] and grid_points({}, "dice") == []


def metric_files(tmp_path, values: list[dict]) -> list:
    paths = []
    for index, valid in enumerate(values):
        paths.append(tmp_path / f"point{index}.json")
        paths[-1].write_text(json.dumps({"valid": valid, "test": {"recall@50": 1.0}}))
    return paths


@pytest.mark.parametrize(
    ("values", "chosen", "chosen_by_recall20"),
    [
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 5, 0),  # the best is the last point
        ([0.6, 0.5, 0.4, 0.3, 0.2, 0.1], 0, 5),  # ... the first point
        ([0.2, 0.4, 0.1, 0.4, 0.4, 0.3], 1, 2),  # three-way tie: the first of them in grid order
        ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 0, 0),  # all equal
    ],
)
def test_select_takes_the_best_validation_value_and_the_first_on_ties(
    tmp_path, values, chosen, chosen_by_recall20
):
    # recall@20 = 1 - recall@50 ranks the points the other way; the test metric is ignored
    files = metric_files(tmp_path, [{"recall@50": v, "recall@20": 1 - v} for v in values])
    selection = select(GRID_POINTS, files, metric="recall@50")
    assert selection["chosen"] == GRID_POINTS[chosen]
    assert selection["metric"] == "valid recall@50"
    assert [(p["overrides"], p["valid"]) for p in selection["points"]] == list(
        zip(GRID_POINTS, values, strict=True)
    )
    by_other = select(GRID_POINTS, files, metric="recall@20")["chosen"]
    assert by_other == GRID_POINTS[chosen_by_recall20]


def test_select_with_a_missing_metric_is_a_one_line_error_naming_the_file(tmp_path):
    files = metric_files(tmp_path, [{"recall@50": 0.1}, {"recall@20": 0.2}])
    with pytest.raises(DiceError) as error:
        select(GRID_POINTS[:2], files, metric="recall@50")
    message = str(error.value)
    assert message == f"{files[1]}: validation metric 'recall@50' is missing"
    assert "\n" not in message
    with pytest.raises(DiceError, match="no grid point to select from"):
        select([], [], metric="recall@50")
