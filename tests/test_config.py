"""Config validation: defaults filled, unknown keys and values rejected with one-line errors."""

from __future__ import annotations

import pytest
import yaml

from dice.config import load_config, run_settings, validate_config
from dice.errors import DiceError
from dice.plan import all_runs, main_runs, split_id, study_runs
from tests.conftest import ROOT

MINIMAL = {"datasets": {"toy": {"source": "synthetic", "preset": "tiny"}}}


def test_defaults_are_filled_from_the_schema():
    config = validate_config(MINIMAL)
    assert config["split"]["cap"] == 0.9 and config["train"]["batch_size"] == 128
    assert config["methods"] == ["none", "itempop"] and config["seeds"] == [0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"methdos": ["none"]}, "unknown key 'methdos' (did you mean 'methods'?)"),
        ({"methods": ["dcie"]}, "unknown method 'dcie' (did you mean 'dice'?)"),
        ({"backbones": ["gcn"]}, "backbones/0"),
        ({"split": {"cap": 1.5}}, "split/cap"),
        ({"split": {"cap": 0}}, "split/cap"),
        ({"split": {"intervened_train_share": -0.1}}, "split/intervened_train_share"),
        ({"split": {"test_share": 0.5, "valid_share": 0.4}}, "split shares sum to"),
        ({"seeds": [-1]}, "seeds/0"),
        ({"datasets": {"x": {"source": "movielens"}}}, "datasets/x/source"),
        ({"profile": "turbo"}, "profile 'turbo'"),
    ],
)
def test_bad_values_give_one_line_errors(change, message):
    with pytest.raises(DiceError) as err:
        validate_config({**MINIMAL, **change})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_suite_configs_are_valid_and_plan_their_runs():
    for name in ("config.yaml", "smoke.yaml"):
        config = load_config(ROOT / "config" / name)
        runs = all_runs(config)
        assert runs and len({tuple(r.values()) for r in runs}) == len(runs)
    assert len(main_runs(load_config(ROOT / "config" / "smoke.yaml"))) == 16


def test_studies_expand_alpha_variants_and_skip_cause_without_intervened_data(suite_config):
    methods = {r["method"] for r in study_runs(suite_config, "fig8a_curriculum")}
    assert {"dice-a0.1-curriculum", "dice-a0.1-normal"} <= methods
    settings = run_settings(suite_config, method="dice-a0.5-normal", backbone="mf")["model"]
    assert settings["interest_weight"] == 0.5 and settings["curriculum"] is False
    shares = study_runs(suite_config, "fig8b_shares")
    assert not [r for r in shares if r["method"] == "cause" and r["split"].endswith("share0")]
    assert split_id({"cap": 0.5, "intervened_train_share": 0.05}) == "cap0.5-share0.05"


def test_method_variant_inherits_its_objective_settings(suite_config):
    model = run_settings(suite_config, method="dice-random", backbone="lightgcn")["model"]
    assert model["objective"] == "dice" and model["negatives"] == "random"
    assert model["margin_up"] == suite_config["method_settings"]["dice"]["margin_up"]


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "seeds": "zero"}))
    with pytest.raises(DiceError, match=str(path)):
        load_config(path)
    with pytest.raises(DiceError, match="config file is missing"):
        load_config(tmp_path / "absent.yaml")
