"""The discrepancy's row budget as a training-profile setting (`discrepancy_rows` of `train` /
`profiles`): it reaches DICE's `discrepancy_rows` unless `method_settings` sets that, other
methods and the train settings never see it, and the built-in profiles keep the exact dCor."""

from __future__ import annotations

import copy

from dice.config import parse_run_settings, run_settings, validate_config

RAW = {"datasets": {"toy": {"source": "synthetic", "preset": "tiny"}}, "profile": "fast-dis",
       "profiles": {"fast-dis": {"batch_size": 2048, "drop_last": False, "lr_dice": 0.004,
                                 "discrepancy_rows": 128}}}  # fmt: skip


def rows(raw, method: str = "dice"):
    settings = run_settings(validate_config(raw), method=method, backbone="mf")
    assert "discrepancy_rows" not in settings["train"]
    return settings["model"].get("discrepancy_rows", "absent")


def test_a_profile_sets_dices_row_budget_and_nothing_else(small_split):
    from dice.registry import build_model
    from dice.seeding import torch_generator

    assert rows(RAW) == 128 and rows(RAW, "dice-l1") == 128
    assert rows(RAW, "none") == "absent" and rows(RAW, "cause") == "absent"
    _, model, _ = parse_run_settings(
        run_settings(validate_config(RAW), method="dice", backbone="mf")
    )
    built = build_model(model, small_split, generator=torch_generator(0, "init"))
    assert built.discrepancy_rows == 128  # what DICE's loss reads


def test_method_settings_win_over_the_profile():
    raw = copy.deepcopy(RAW) | {"method_settings": {"dice": {"discrepancy_rows": 64}}}
    assert rows(raw) == 64


def test_built_in_profiles_keep_the_exact_discrepancy_and_their_run_settings():
    for profile in ("faithful", "fast", "smoke"):
        raw = {"datasets": RAW["datasets"], "profile": profile}
        assert rows(raw) is None
        config = validate_config(raw)
        config["profiles"][profile] = {k: v for k, v in config["profiles"][profile].items()
                                       if k != "discrepancy_rows"}  # fmt: skip
        config["train"].pop("discrepancy_rows")
        assert run_settings(config, method="dice", backbone="mf") == run_settings(
            validate_config(raw), method="dice", backbone="mf"
        )
