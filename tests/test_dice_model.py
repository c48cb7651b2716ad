"""DICE's objective (eqs. 6–10) pinned on hand-checkable cases, and its curriculum."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dice.models.base import Batch
from dice.registry import build_model
from dice.seeding import torch_generator
from tests.conftest import settings_for


def dice_model(suite_config, split, **changes):
    _, cfg, _ = settings_for(suite_config, "dice", "mf")
    return build_model(cfg.with_settings(**changes), split, generator=torch_generator(0, "init"))


def batch(mask: bool) -> Batch:
    users = torch.tensor([0, 1, 2])
    pos = torch.tensor([3, 4, 5])
    neg = torch.tensor([[6, 7], [8, 9], [10, 11]])
    return Batch(users, pos, neg, torch.zeros(3, dtype=torch.bool), torch.full((3, 2), mask))


def differences(model, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    out = []
    for side in (model.interest, model.conformity):
        users, items = side()
        u = users[b.users]
        out.append(
            (u * items[b.pos]).sum(-1)[:, None] - torch.einsum("bd,bkd->bk", u, items[b.neg])
        )
    return out[0].detach(), out[1].detach()


def test_o2_entries_train_interest_and_reverse_conformity(suite_config, small_split):
    model = dice_model(suite_config, small_split)
    b = batch(mask=True)  # every negative more popular: O2
    d_int, d_con = differences(model, b)
    terms = model.loss(b)
    torch.testing.assert_close(terms["interest"], -F.logsigmoid(d_int).mean())
    torch.testing.assert_close(terms["conformity"], -F.logsigmoid(-d_con).mean())  # reversed
    torch.testing.assert_close(terms["click"], -F.logsigmoid(d_int + d_con).mean())


def test_o1_entries_give_no_interest_loss_and_normal_conformity(suite_config, small_split):
    model = dice_model(suite_config, small_split)
    b = batch(mask=False)  # every negative less popular: O1
    _, d_con = differences(model, b)
    terms = model.loss(b)
    assert terms["interest"] == 0
    torch.testing.assert_close(terms["conformity"], -F.logsigmoid(d_con).mean())


def test_total_is_click_plus_alpha_terms_plus_beta_discrepancy(suite_config, small_split):
    model = dice_model(suite_config, small_split)
    terms = model.loss(batch(mask=True))
    expected = (
        terms["click"]
        + 0.1 * (terms["interest"] + terms["conformity"])
        + 0.01 * terms["discrepancy"]
    )
    torch.testing.assert_close(terms["loss"].detach(), expected)


def test_discrepancy_is_computed_on_the_batch_entities_only(suite_config, small_split):
    """The authors' code (docs/authors-code.md#dice): D on batch-unique items/users, not the
    whole tables, so the total loss has zero gradient on every row outside the batch (here items
    3..11, users 0..2)."""
    model = dice_model(suite_config, small_split)
    loss = model.loss(batch(mask=True))["loss"]
    item_grad, user_grad = torch.autograd.grad(loss, [model.conformity.item, model.conformity.user])
    assert torch.nonzero(item_grad.abs().sum(1)).flatten().tolist() == list(range(3, 12))
    assert torch.nonzero(user_grad.abs().sum(1)).flatten().tolist() == [0, 1, 2]


def test_full_score_is_interest_plus_conformity(suite_config, small_split):
    model = dice_model(suite_config, small_split)
    users = torch.arange(5)
    with torch.no_grad():
        full = model.scorer("full")(users)
        parts = model.scorer("interest")(users) + model.scorer("conformity")(users)
    torch.testing.assert_close(full, parts)


def test_curriculum_decays_alpha_and_margin_by_point_nine(suite_config, small_split):
    model = dice_model(suite_config, small_split)
    for _ in range(3):
        model.end_epoch()
    state = model.epoch_state()
    assert abs(state["alpha_interest"] - 0.1 * 0.9**3) < 1e-12
    assert abs(state["margin_up"] - 40 * 0.9**3) < 1e-9
    fixed = dice_model(suite_config, small_split, curriculum=False)
    fixed.end_epoch()
    state = fixed.epoch_state()
    assert math.isnan(state.pop("interest_share"))  # no step trained yet
    assert state == {"alpha_interest": 0.1, "alpha_conformity": 0.1, "margin_up": 40.0}


def test_history_reports_the_share_of_pairs_that_train_interest(suite_config, small_split):
    """history's interest_share is, per epoch, the share of the sampled (positive, negative)
    pairs whose mask selects the interest loss: the sampler is re-run here with the trainer's
    seed stream and each epoch's margin (m_up = 40, then 40 · 0.9), and the masks counted."""
    from dice.batches import EpochSampler
    from dice.seeding import numpy_rng
    from dice.train import Trainer

    _, cfg, train = settings_for(suite_config, "dice", "mf", max_epochs=2, batch_size=300,
                                 drop_last=False)  # fmt: skip
    model = build_model(cfg, small_split, generator=torch_generator(0, "init"))
    state = Trainer(model, small_split, config=train, seed=3, progress=False).fit()
    sampler = EpochSampler(small_split, kind="pnsm", k=train.negatives_per_positive,
                           exclusion=train.negative_exclusion)  # fmt: skip
    rng, want = numpy_rng(3, "negatives"), []
    for margin in (40.0, 40.0 * 0.9):
        mask = sampler.sample(rng=rng, margin_up=margin, pool=40).mask
        want.append(mask.sum() / mask.size)
    got = [row["interest_share"] for row in state.history]
    assert got == [float(w) for w in want] and 0 < min(want) < max(want) < 1
    assert [row["margin_up"] for row in state.history] == [40.0, 40.0 * 0.9]
