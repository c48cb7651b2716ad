"""The rehearsal's step cap (`train.max_steps_per_epoch`) and config/rehearsal.yaml.

An unset cap leaves every run's settings (and so its id) as they were; a cap trains the first
`cap` batches of the epoch the uncapped trainer would have run, and leaves the random streams
where the uncapped epoch leaves them; a cap at or above the epoch's batch count changes nothing.
config/rehearsal.yaml plans the paper's studies on the two full-size simulator presets.
"""

from __future__ import annotations

import pytest
import torch
import yaml

from dice.config import load_config, parse_run_settings, run_settings, validate_config
from dice.plan import planned_runs
from dice.settings import STUDIES
from dice.tracks import STUDY as TUNED_STUDY

RAW = {"datasets": {"toy": {"source": "synthetic", "preset": "tiny"}},
       "model": {"embedding_dim": 8, "dual_embedding_dim": 4}}  # fmt: skip


def settings(method: str = "none", **train) -> dict:
    return run_settings(validate_config(RAW | {"train": {"batch_size": 64, **train}}),
                        method=method, backbone="mf")  # fmt: skip


def test_an_unset_cap_is_absent_from_run_settings_and_a_set_one_is_read():
    assert "max_steps_per_epoch" not in settings()["train"]
    assert settings(max_steps_per_epoch=None) == settings()
    capped = settings(max_steps_per_epoch=3)
    assert capped["train"]["max_steps_per_epoch"] == 3
    assert parse_run_settings(capped)[2].max_steps_per_epoch == 3
    assert parse_run_settings(settings())[2].max_steps_per_epoch is None


def test_a_cap_below_one_is_rejected():
    from dice.errors import DiceError

    with pytest.raises(DiceError):
        validate_config(RAW | {"train": {"max_steps_per_epoch": 0}})


def trained(split, method: str, **train):
    """(trainer after one epoch, the (users, pos, neg) of every batch its loss saw)."""
    from dice.registry import build_model
    from dice.seeding import torch_generator
    from dice.train import Trainer

    _, model_config, config = parse_run_settings(settings(method, **train))
    model = build_model(model_config, split, generator=torch_generator(0, "init"))
    seen, loss = [], model.loss

    def recording(batch):
        seen.append((batch.users.clone(), batch.pos.clone(), batch.neg.clone()))
        return loss(batch)

    model.loss = recording
    trainer = Trainer(model, split, config=config, seed=0, progress=False)
    trainer.run_epoch()
    return trainer, seen


@pytest.mark.parametrize("method", ["none", "dice"])
def test_a_cap_trains_the_first_batches_of_the_uncapped_epoch(small_split, method):
    full, full_batches = trained(small_split, method)
    n_positives = len(small_split.train_normal) + len(small_split.train_intervened)
    assert len(full_batches) == n_positives // 64 > 3  # drop_last (faithful)
    capped, capped_batches = trained(small_split, method, max_steps_per_epoch=3)
    assert len(capped_batches) == 3
    for got, want in zip(capped_batches, full_batches[:3], strict=True):
        for a, b in zip(got, want, strict=True):
            assert torch.equal(a, b)
    # the streams moved as far as the uncapped epoch's: the next epoch draws the same
    for name in ("sample_rng", "shuffle_rng"):
        a, b = getattr(capped, name), getattr(full, name)
        assert a.bit_generator.state == b.bit_generator.state
    assert capped.state.history[0]["valid"] >= 0


def test_a_cap_at_or_above_the_batch_count_changes_nothing(small_split):
    full, _ = trained(small_split, "none")
    n_batches = (len(small_split.train_normal) + len(small_split.train_intervened)) // 64
    capped, _ = trained(small_split, "none", max_steps_per_epoch=n_batches)
    for (name, a), (_, b) in zip(full.model.state_dict().items(),
                                 capped.model.state_dict().items(), strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    assert full.state.history[0]["valid"] == capped.state.history[0]["valid"]


def test_the_rehearsal_plans_the_paper_studies_at_full_simulator_size():
    paper = yaml.safe_load(open("config/paper.yaml"))
    raw = yaml.safe_load(open("config/rehearsal.yaml"))
    config = load_config("config/rehearsal.yaml")
    presets = {key: d.get("preset") for key, d in config["datasets"].items()}
    assert sorted(presets.values()) == ["ml10m-like", "netflix-like"]
    assert all(config["datasets"][k]["source"] == "synthetic" for k in presets)
    # every study of the paper, so every paper artefact (the tuned track goes beyond the paper)
    assert set(config["studies"]) == set(STUDIES) - {TUNED_STUDY}
    # thinned where a point only repeats a stage that runs anyway: every study's methods and
    # backbones, two of the paper's values of each swept knob, two points of each grid search
    for name, study in paper["studies"].items():
        mine = raw["studies"][name]
        assert mine["datasets"] == ["ml10m_like"], name
        for key, values in study.items():
            if key in ("caps", "shares", "alphas"):
                assert len(mine[key]) == 2 and set(mine[key]) <= set(values), (name, key)
            elif key != "datasets":
                assert mine[key] == values, (name, key)
    assert (config["backbones"], config["methods"]) == (paper["backbones"], paper["methods"])
    assert config["seeds"] == [0] and set(config["hpo"]["grids"]) >= {"ips-cnsr", "cause"}
    for method, grid in config["hpo"]["grids"].items():
        for knob, values in grid.items():
            assert len(values) == 2 and set(values) <= set(paper["hpo"]["grids"][method][knob])
    runs = planned_runs(config)
    caps = {p.stage.settings["settings"]["train"].get("max_steps_per_epoch") for p in runs}
    assert caps == {config["train"]["max_steps_per_epoch"]} and None not in caps
    assert {p.run["dataset"] for p in runs} == set(presets)  # the main grid on both
    assert config["train"]["max_epochs"] < 500  # capped below the faithful epoch limit
