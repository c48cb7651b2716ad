"""IPS-CN's normaliser: a constant (the median, the authors' code), which only rescales IPS-C's
loss, or the batch's own weights (self-normalised, `ips-cn-batch`), which changes the relative
weight of every batch and so makes a different model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dice.errors import DiceError
from dice.models.base import Batch
from dice.registry import build_model
from dice.seeding import torch_generator
from tests.conftest import settings_for


def model(suite_config, split, key: str, **changes):
    _, cfg, _ = settings_for(suite_config, key, "mf")
    cfg = cfg.with_settings(**changes) if changes else cfg
    return build_model(cfg, split, generator=torch_generator(0, "init"))


def batch(pos: list[int]) -> Batch:
    n = len(pos)
    neg = torch.tensor([[(p + 7 + j) % 100 for j in range(2)] for p in pos])
    return Batch(torch.arange(n), torch.tensor(pos), neg, torch.zeros(n, dtype=torch.bool), None)


def test_batch_normalised_loss_is_the_weighted_mean_over_the_batch(suite_config, small_split):
    m = model(suite_config, small_split, "ips-cn-batch")
    b = batch([0, 1, 50, 99])
    users, items = (t.detach() for t in m.backbone())
    u = users[b.users]
    diff = (u * items[b.pos]).sum(-1)[:, None] - torch.einsum("bd,bkd->bk", u, items[b.neg])
    w = m.item_weight[b.pos]
    want = (w[:, None] * -F.logsigmoid(diff)).sum() / (w.sum() * b.neg.shape[1])
    torch.testing.assert_close(m.loss(b)["loss"].detach(), want)


def test_the_median_normaliser_is_a_constant_the_batch_one_is_not(suite_config, small_split):
    capped, median, batched = (model(suite_config, small_split, k)
                               for k in ("ips-c", "ips-cn", "ips-cn-batch"))  # fmt: skip
    ratios_median, ratios_batch = [], []
    for pos in ([0, 1, 2, 3], [60, 70, 80, 90]):  # popular heads, then tail items
        b = batch(pos)
        loss_c = capped.loss(b)["loss"].detach()
        ratios_median.append(float(loss_c / median.loss(b)["loss"].detach()))
        ratios_batch.append(float(loss_c / batched.loss(b)["loss"].detach()))
    assert ratios_median[0] == pytest.approx(ratios_median[1], rel=1e-5)
    assert ratios_batch[0] != pytest.approx(ratios_batch[1], rel=1e-3)


def test_batch_normalisation_needs_a_normalised_variant(suite_config, small_split):
    with pytest.raises(DiceError, match="ips_normalisation"):
        model(suite_config, small_split, "ips-c", ips_normalisation="batch")
