"""IPS weights on hand-computed popularity vectors; CausE's use of the two training parts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dice.errors import DiceError
from dice.methods.ips import ips_weights
from dice.models.base import Batch
from dice.registry import build_model
from dice.seeding import torch_generator
from tests.conftest import settings_for

# counts c = [0, 1, 2, 4, 8] → c̃ = max(c, 1) = [1, 1, 2, 4, 8], M = 8, w = M / c̃ = [8, 8, 4, 2, 1];
# the median of w over all five items is 4.
COUNTS = np.array([0, 1, 2, 4, 8])


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("ips", [8, 8, 4, 2, 1]),
        ("ips-c", [4, 4, 4, 2, 1]),  # capped at the median weight 4
        ("ips-cn", [1, 1, 1, 0.5, 0.25]),  # capped, divided by the median
    ],
)
def test_ips_weights_by_hand(variant, expected):
    np.testing.assert_allclose(ips_weights(COUNTS, variant=variant), expected)


def test_ips_cnsr_smooths_and_renormalises():
    # IPS-CN weights [1, 1, 1, .5, .25] ** 0.5 = [1, 1, 1, .7071, .5]; the maximum is already 1
    np.testing.assert_allclose(
        ips_weights(COUNTS, variant="ips-cnsr", smoothing=0.5), [1, 1, 1, 0.5**0.5, 0.5]
    )


def test_median_tie_case_averages_the_two_middle_weights():
    # c = [1, 2, 4, 8] → w = [8, 4, 2, 1]; even count: median = (2 + 4) / 2 = 3
    np.testing.assert_allclose(ips_weights([1, 2, 4, 8], variant="ips-c"), [3, 3, 2, 1])
    np.testing.assert_allclose(ips_weights([1, 2, 4, 8], variant="ips-cn"), [1, 1, 2 / 3, 1 / 3])


def test_ips_model_weights_come_from_training_counts(suite_config, small_split):
    _, cfg, _ = settings_for(suite_config, "ips", "mf")
    model = build_model(cfg, small_split, generator=torch_generator(0, "init"))
    expected = ips_weights(small_split.train.item_counts(), variant="ips")
    np.testing.assert_allclose(model.item_weight.numpy(), expected, rtol=1e-6)


def cause_model(suite_config, split, **changes):
    _, cfg, _ = settings_for(suite_config, "cause", "mf")
    return build_model(cfg.with_settings(**changes), split, generator=torch_generator(0, "init"))


def test_cause_treatment_loss_uses_only_intervened_rows(suite_config, small_split):
    model = cause_model(suite_config, small_split, discrepancy_weight=0.0)
    intervened = torch.tensor([False, False, True])
    b = Batch(
        torch.tensor([0, 1, 2]),
        torch.tensor([3, 4, 5]),
        torch.tensor([[6, 7], [8, 9], [10, 11]]),
        intervened,
    )
    loss = model.loss(b)["loss"]
    (grad,) = torch.autograd.grad(loss, [model.treatment.item])
    assert torch.nonzero(grad.abs().sum(1)).flatten().tolist() == [5, 10, 11]  # row 2's items
    moved = Batch(b.users, torch.tensor([12, 4, 5]), b.neg, intervened)  # change a control row
    assert model.loss(moved)["treatment"] == model.loss(b)["treatment"]
    assert model.loss(moved)["control"] != model.loss(b)["control"]


def test_cause_ranks_with_control_embeddings(suite_config, small_split):
    model = cause_model(suite_config, small_split)
    users = torch.arange(4)
    with torch.no_grad():
        expected = model.control.user[users] @ model.control.item.T
        torch.testing.assert_close(model.scorer()(users), expected)


def test_cause_refuses_a_split_without_intervened_training_data(suite_config, small_split):
    empty = dataclasses.replace(
        small_split,
        train_intervened=dataclasses.replace(
            small_split.train_intervened, user=np.zeros(0, np.int64), item=np.zeros(0, np.int64)
        ),
    )
    with pytest.raises(DiceError, match="CausE needs intervened training data"):
        cause_model(suite_config, empty)
