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
    assert len(main_runs(load_config(ROOT / "config" / "smoke.yaml"))) == 26


def test_studies_expand_alpha_variants_and_skip_cause_without_intervened_data(suite_config):
    methods = {r["method"] for r in study_runs(suite_config, "fig8a_curriculum")}
    assert {"dice-a0.1-curriculum", "dice-a0.1-normal"} <= methods
    settings = run_settings(suite_config, method="dice-a0.5-normal", backbone="mf")["model"]
    assert settings["interest_weight"] == 0.5 and settings["curriculum"] is False
    shares = study_runs(suite_config, "fig8b_shares")
    assert not [r for r in shares if r["method"] == "cause" and r["split"].endswith("share0")]
    assert split_id({"cap": 0.5, "intervened_train_share": 0.05}) == "cap0.5-share0.05"


def test_method_variant_inherits_its_base_settings(suite_config):
    settings = run_settings(suite_config, method="dice-random", backbone="lightgcn")
    model = settings["model"]
    assert settings["entry"] == "dice" and model["negatives"] == "random"
    assert model["margin_up"] == suite_config["method_settings"]["dice"]["margin_up"]
    changed = {**suite_config, "method_settings": {"dice": {"margin_up": 7}}}
    assert run_settings(changed, method="dice-l1", backbone="mf")["model"]["margin_up"] == 7


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "seeds": "zero"}))
    with pytest.raises(DiceError, match=str(path)):
        load_config(path)
    with pytest.raises(DiceError, match="config file is missing"):
        load_config(tmp_path / "absent.yaml")


def test_committed_schema_is_the_generated_one():
    from dice.schema import config_schema

    committed = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert committed == yaml.safe_load(yaml.safe_dump(config_schema()))


def test_schema_defaults_are_the_dataclass_defaults():
    from dice.methods.dice import DICESettings
    from dice.settings import TrainSettings

    config = validate_config(MINIMAL)
    assert config["train"]["lr_dice"] == TrainSettings().lr_dice
    dice = run_settings(config, method="dice", backbone="mf")["model"]
    assert dice["margin_up"] == DICESettings().margin_up and dice["discrepancy_rows"] is None


def test_a_misspelled_study_name_is_rejected():
    with pytest.raises(DiceError) as err:
        validate_config({**MINIMAL, "studies": {"fig6_cap": {"methods": ["dice"]}}})
    assert "unknown key 'fig6_cap' (did you mean 'fig6_caps'?) in studies" in str(err.value)


def test_builtin_profiles_and_variants_need_no_definition():
    config = validate_config({**MINIMAL, "profile": "fast", "methods": ["dice-l1", "ips-c"]})
    dice = run_settings(config, method="dice-l1", backbone="mf")
    assert dice["model"]["discrepancy"] == "l1"
    # the learning rate is resolved by the method's lr_key: fast sets lr_dice 0.004, lr 0.04
    assert dice["train"]["lr"] == 0.004 and dice["train"]["batch_size"] == 2048
    assert run_settings(config, method="ips-c", backbone="mf")["train"]["lr"] == 0.04


def test_a_setting_the_method_lacks_is_rejected():
    bad = {**MINIMAL, "method_settings": {"ips-c": {"margin_up": 3}}}
    with pytest.raises(DiceError, match="'ips-c' .* has no setting"):
        validate_config(bad)


def test_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("datasets:\n  toy: {source: synthetic\nseeds: [0]\n")
    with pytest.raises(DiceError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and "line 3" in message and "\n" not in message


def test_analysis_constants_are_settings():
    config = validate_config({**MINIMAL, "analysis": {"disentangle_users": 500}})
    assert config["analysis"]["disentangle_users"] == 500
    assert config["analysis"]["counterfactual_k"] == 20
    assert config["analysis"]["long_tail_head_share"] == 0.2
    with pytest.raises(DiceError, match="analysis/significance_level"):
        validate_config({**MINIMAL, "analysis": {"significance_level": 1.5}})
