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
