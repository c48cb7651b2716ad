"""One contract for every (backbone, method): shapes, finite loss, determinism, round-trips,
and a planted-preference case ranked right after a short fit."""

from __future__ import annotations

import io
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from dice.batches import EpochSampler
from dice.config import parse_run_settings, run_settings
from dice.data.interactions import Interactions, Split
from dice.evaluate import top_k
from dice.methods import REGISTRY
from dice.registry import build_model
from dice.seeding import numpy_rng, torch_generator
from dice.train import Trainer
from tests.conftest import checkerboard, settings_for

TRAINED = [key for key, entry in REGISTRY.items() if entry.base is None and key != "itempop"]
GRID = [(b, m) for b in ("mf", "lightgcn") for m in TRAINED]


def checkerboard_split() -> tuple[Split, np.ndarray]:
    """Checkerboard with one same-group item per user withheld into valid (= test).

    Every fifth remaining record is intervened-train so that CausE has both parts.
    """
    full = checkerboard()
    held = (full.item // 2) == (full.user // 2) % (full.n_items // 2)  # one item per user
    rest = np.flatnonzero(~held)
    inter = np.zeros(len(full), bool)
    inter[rest[::5]] = True

    def part(mask):
        return Interactions(full.user[mask], full.item[mask], full.n_users, full.n_items)

    withheld = part(held)
    split = Split(part(~held & ~inter), part(inter), withheld, withheld)
    return split, full.item[held][np.argsort(full.user[held])]


def one_batch(model, split: Split, seed: int = 0):
    sampler = EpochSampler(split, kind=model.negatives, k=4)
    samples = sampler.sample(rng=numpy_rng(seed, "negatives"), margin_up=40.0, pool=40)
    return samples.batch(np.arange(min(32, len(samples))))


@pytest.mark.parametrize(("backbone", "method"), GRID)
def test_loss_is_finite_and_scores_have_the_right_shape(
    backbone, method, suite_config, small_split
):
    _, model_cfg, _ = settings_for(suite_config, method, backbone)
    model = build_model(model_cfg, small_split, generator=torch_generator(0, "init"))
    terms = model.loss(one_batch(model, small_split))
    assert torch.isfinite(terms["loss"]) and terms["loss"].requires_grad
    terms["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    for mode in model.scorings:
        with torch.no_grad():
            scores = model.scorer(mode)(torch.tensor([0, 3, 5]))
        assert scores.shape == (3, small_split.n_items)


@pytest.mark.parametrize(("backbone", "method"), GRID)
def test_state_dict_and_settings_round_trip(backbone, method, suite_config, small_split):
    settings = run_settings(suite_config, method=method, backbone=backbone)
    # settings -> JSON text (as a run folder stores them) -> configs -> settings again
    parsed_method, model_cfg, train_cfg = parse_run_settings(json.loads(json.dumps(settings)))
    assert (parsed_method, model_cfg.backbone) == (method, backbone)
    rebuilt = {
        "method": parsed_method,
        "entry": model_cfg.entry,
        "backbone": {"name": model_cfg.backbone, **asdict(model_cfg.backbone_settings)},
        "model": asdict(model_cfg.settings),
        "train": asdict(train_cfg),
    }
    if rebuilt["train"]["max_steps_per_epoch"] is None:  # run_settings leaves an unset cap out,
        del rebuilt["train"]["max_steps_per_epoch"]  # so run ids stay as they were
    stored = json.loads(json.dumps({k: v for k, v in settings.items() if k != "analysis"}))
    assert json.loads(json.dumps(rebuilt)) == stored
    model = build_model(model_cfg, small_split, generator=torch_generator(0, "init"))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    other = build_model(model_cfg, small_split, generator=torch_generator(1, "init"))
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    model.eval(), other.eval()
    users = torch.arange(small_split.n_users)
    with torch.no_grad():
        torch.testing.assert_close(model.scorer()(users), other.scorer()(users), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("backbone", "method"),
    [("mf", "dice"), ("lightgcn", "dice"), ("lightgcn", "none"), ("mf", "cause")],
)
def test_training_is_deterministic_under_a_seed(backbone, method, suite_config, small_split):
    _, model_cfg, train_cfg = settings_for(
        suite_config, method, backbone, max_epochs=2, batch_size=64
    )

    def run():
        model = build_model(model_cfg, small_split, generator=torch_generator(3, "init"))
        Trainer(model, small_split, config=train_cfg, seed=3, progress=False).fit()
        return model.state_dict()

    first, second = run(), run()
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.mark.parametrize(("backbone", "method"), GRID)
def test_planted_preference_is_ranked_first_after_a_short_fit(backbone, method, suite_config):
    split, withheld = checkerboard_split()
    _, model_cfg, train_cfg = settings_for(
        suite_config,
        method,
        backbone,
        max_epochs=40,
        batch_size=16,
        lr=0.02,
        valid_metric="recall@1",
    )
    model = build_model(model_cfg, split, generator=torch_generator(0, "init"))
    Trainer(model, split, config=train_cfg, seed=0, progress=False).fit()
    model.eval()
    with torch.no_grad():
        ranked = top_k(model.scorer(), n_users=split.n_users, exclude=split.train.csr(), k=1)
    assert np.mean(ranked[:, 0] == withheld) >= 0.9, ranked[:, 0]


@pytest.mark.parametrize(
    ("method", "extra"), [("none", 0), ("bias-u", 24), ("bias-i", 16), ("bias-ui", 40)]
)
def test_bias_variants_add_one_scalar_per_user_and_or_item(method, extra, suite_config):
    split, _ = checkerboard_split()  # 24 users, 16 items
    counts = {}
    for name in ("none", method):
        _, cfg, _ = settings_for(suite_config, name, "mf")
        model = build_model(cfg, split, generator=torch_generator(0, "init"))
        counts[name] = sum(p.numel() for p in model.parameters())
    assert counts[method] - counts["none"] == extra


def test_user_bias_gets_no_gradient_under_bpr(suite_config, small_split):
    """b_u cancels in s(u,i) − s(u,j): BIAS-U under BPR is plain BPR (documented in README)."""
    _, cfg, _ = settings_for(suite_config, "bias-u", "mf")
    model = build_model(cfg, small_split, generator=torch_generator(0, "init"))
    model.loss(one_batch(model, small_split))["loss"].backward()
    assert model.user_bias.grad is not None and torch.count_nonzero(model.user_bias.grad) == 0


def test_dual_table_methods_have_the_parameter_count_of_single_table_ones(
    suite_config, small_split
):
    def n_params(method):
        _, cfg, _ = settings_for(suite_config, method, "mf")
        return sum(
            p.numel()
            for p in build_model(cfg, small_split, generator=torch_generator(0, "i")).parameters()
        )

    assert n_params("dice") == n_params("none")  # DICE §4.1: 2 × 64 = 128
