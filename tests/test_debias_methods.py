"""PD/PDA, MACR, Rel-MF and BC loss (docs/debiasing-methods.md).

Each loss is pinned on one tiny example whose scores are written out by hand below and whose
expected value is computed here with plain numpy (never by the code under test); each method then
trains a few epochs on both backbones through the run stage, and its loss goes down.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dice.config import run_settings
from dice.io import read_json
from dice.methods import REGISTRY, bcloss, macr, pda, relmf
from dice.models.base import Batch
from dice.models.mf import MFBackbone
from dice.runs import train_run

NEW_KEYS = ("pd", "pda", "macr", "rel-mf", "bc-loss")

# --- the hand example ---------------------------------------------------------------------------
# Users u0 = (1, 0), u1 = (0, 1); items i0 = (1, 1), i1 = (0.5, -1), i2 = (-1, 2). Inner products:
#   u0: i0 → 1, i1 → 0.5, i2 → -1        u1: i0 → 1, i1 → -1, i2 → 2
# Batch: row 0 = (u0, positive i0, negatives i1, i2); row 1 = (u1, positive i2, negatives i0, i1).
POS = np.array([1.0, 2.0])
NEG = np.array([[0.5, -1.0], [1.0, -1.0]])
COUNTS = np.array([4.0, 1.0, 2.0])  # training counts of i0, i1, i2


def backbone() -> MFBackbone:
    mf = MFBackbone(2, 3, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mf.user.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        mf.item.copy_(torch.tensor([[1.0, 1.0], [0.5, -1.0], [-1.0, 2.0]]))
    return mf


def batch() -> Batch:
    return Batch(torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([[1, 2], [0, 1]]),
                 torch.tensor([False, False]))  # fmt: skip


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


# --- PD / PDA -----------------------------------------------------------------------------------


def test_pda_trains_bpr_on_elu_plus_one_times_popularity_to_gamma():
    config = pda.PDASettings(popularity_exponent=0.5, inference_exponent=2.0)
    model = pda.PDA(backbone(), torch.tensor(COUNTS), config=config)
    m = (COUNTS - 1) / 3  # min-max: [1, 0, 1/3]
    elu1 = {1.0: 2.0, 2.0: 3.0, 0.5: 1.5, -1.0: math.exp(-1)}  # ELU(x) + 1 by hand
    pos = np.array([elu1[1.0] * m[0] ** 0.5, elu1[2.0] * m[2] ** 0.5])
    neg = np.array([[elu1[0.5] * m[1] ** 0.5, elu1[-1.0] * m[2] ** 0.5],
                    [elu1[1.0] * m[0] ** 0.5, elu1[-1.0] * m[1] ** 0.5]])  # fmt: skip
    want = softplus(-(pos[:, None] - neg)).mean()
    assert model.loss(batch())["loss"].item() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("inference", ["pd", "pda"])
def test_pd_ranks_deconfounded_and_pda_with_popularity(inference):
    config = pda.PDASettings(popularity_exponent=0.5, inference_exponent=2.0, inference=inference)
    model = pda.PDA(backbone(), torch.tensor(COUNTS), config=config)
    scores = model.scorer()(torch.tensor([0])).detach().numpy()[0]
    deconfounded = np.array([2.0, 1.5, math.exp(-1)])  # ELU'(1), ELU'(0.5), ELU'(-1)
    m = np.array([1.0, 0.0, 1 / 3])
    want = deconfounded if inference == "pd" else deconfounded * m**2
    np.testing.assert_allclose(scores, want, rtol=1e-6)


def test_pda_keys_fix_the_inference_mode():
    assert REGISTRY["pd"].fixed == {"inference": "pd"}
    assert REGISTRY["pda"].fixed == {"inference": "pda"}


# --- MACR ---------------------------------------------------------------------------------------


def macr_model(**changes) -> macr.MACR:
    config = macr.MACRSettings(**{"item_weight": 0.1, "user_weight": 0.2, "reference": 1.0,
                                  **changes})  # fmt: skip
    model = macr.MACR(backbone(), 2, config=config, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.w_item.copy_(torch.tensor([[1.0], [0.0]]))  # item logits: i0 1, i1 0.5, i2 -1
        model.w_user.copy_(torch.tensor([[0.0], [1.0]]))  # user logits: u0 0, u1 1
    return model


def test_macr_loss_is_fused_bce_plus_weighted_branch_bces():
    item_logit = np.array([1.0, 0.5, -1.0])
    user_logit = np.array([0.0, 1.0])
    pos_items, neg_items = np.array([0, 2]), np.array([[1, 2], [0, 1]])
    gate_u = sigmoid(user_logit)
    fused_pos = POS * sigmoid(item_logit[pos_items]) * gate_u
    fused_neg = NEG * sigmoid(item_logit[neg_items]) * gate_u[:, None]
    main = (-np.log(sigmoid(fused_pos)) - np.log(1 - sigmoid(fused_neg)).mean(1)).mean()
    item = (-np.log(sigmoid(item_logit[pos_items]))
            - np.log(1 - sigmoid(item_logit[neg_items])).mean(1)).mean()  # fmt: skip
    user = (-np.log(sigmoid(user_logit)) - np.log(1 - sigmoid(user_logit))).mean()
    terms = macr_model().loss(batch())
    assert terms["click"].item() == pytest.approx(main, rel=1e-6)
    assert terms["item"].item() == pytest.approx(item, rel=1e-6)
    assert terms["user"].item() == pytest.approx(user, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(main + 0.1 * item + 0.2 * user, rel=1e-6)


def test_macr_ranks_counterfactually():
    scores = macr_model(reference=1.5).scorer()(torch.tensor([1])).detach().numpy()[0]
    match = np.array([1.0, -1.0, 2.0])  # u1 against i0, i1, i2
    item_gate = sigmoid(np.array([1.0, 0.5, -1.0]))
    want = match * item_gate * sigmoid(1.0) - 1.5 * item_gate * sigmoid(1.0)
    np.testing.assert_allclose(scores, want, rtol=1e-6)


# --- Rel-MF -------------------------------------------------------------------------------------


def test_relmf_propensities_are_clipped_power_of_relative_popularity():
    theta = relmf.propensities(COUNTS, eta=0.5, clip=0.6)
    np.testing.assert_allclose(theta, [1.0, 0.6, math.sqrt(0.5)])  # 0.5 clipped up to 0.6


@pytest.mark.parametrize("kind", ["bce", "mse"])
def test_relmf_loss_weights_clicks_by_inverse_propensity(kind):
    config = relmf.RelMFSettings(propensity_exponent=0.5, propensity_clip=0.6, relmf_loss=kind)
    theta = relmf.propensities(COUNTS, eta=config.propensity_exponent, clip=0.6)
    model = relmf.RelMF(backbone(), torch.from_numpy(theta), kind=kind)
    inv = 1 / np.array([1.0, math.sqrt(0.5)])  # 1/θ of the positives i0, i2
    if kind == "bce":
        one, zero, zero_neg = -np.log(sigmoid(POS)), -np.log(1 - sigmoid(POS)), softplus(NEG)
    else:
        one, zero, zero_neg = (1 - sigmoid(POS)) ** 2, sigmoid(POS) ** 2, sigmoid(NEG) ** 2
    # half of [clicked term + mean unlabeled term], averaged over the two rows
    want = 0.5 * (inv * one + (1 - inv) * zero + zero_neg.mean(1)).mean()
    assert model.loss(batch())["loss"].item() == pytest.approx(want, rel=1e-6)


# --- BC loss ------------------------------------------------------------------------------------


def test_popularity_levels_are_dense_ranks_of_degrees():
    levels, n = bcloss.popularity_levels(np.array([5, 0, 5, 2]))
    assert n == 3 and levels.tolist() == [2, 0, 2, 1]


def bc_model(negatives: str, **changes) -> bcloss.BCLoss:
    values = {"temperature": 0.5, "bias_temperature": 0.25, "bias_weight": 0.3,
              "margin_weight": 0.8, "bc_negatives": negatives, **changes}  # fmt: skip
    config = bcloss.BCLossSettings(**values)
    # user levels: u0 → 0, u1 → 1; item levels: i0 → 1, i1 → 0, i2 → 1
    levels = (np.array([0, 1]), 2, np.array([1, 0, 1]), 2)
    model = bcloss.BCLoss(backbone(), levels, 2, config=config,
                          generator=torch.Generator().manual_seed(0))  # fmt: skip
    with torch.no_grad():
        model.user_pop.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
        model.item_pop.copy_(torch.tensor([[0.0, 2.0], [3.0, 0.0]]))
    return model


def softmax_nll(pos, neg, tau):
    logits = np.concatenate([pos[:, None], neg], axis=1) / tau
    return (np.log(np.exp(logits).sum(1)) - logits[:, 0]).mean()


@pytest.mark.parametrize("negatives", ["sampled", "in_batch"])
def test_bc_loss_widens_the_positive_angle_by_the_bias_margin(negatives):
    def unit(v):
        v = np.asarray(v, dtype=float)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    users, items = unit([[1, 0], [0, 1]]), unit([[1, 1], [0.5, -1], [-1, 2]])
    user_b, item_b = unit([[1, 0], [1, 1]]), unit([[0, 2], [3, 0]])  # level tables
    ulev, ilev = np.array([0, 1]), np.array([1, 0, 1])
    pos_items, neg_items = np.array([0, 2]), np.array([[1, 2], [0, 1]])
    if negatives == "in_batch":  # row b's negatives: the other row's positive
        neg_items = np.array([[2], [0]])
    cos = np.einsum("bd,bd->b", users, items[pos_items])
    cos_neg = np.einsum("bd,bkd->bk", users, items[neg_items])
    cos_b = np.einsum("bd,bd->b", user_b[ulev], item_b[ilev[pos_items]])
    cos_b_neg = np.einsum("bd,bkd->bk", user_b[ulev], item_b[ilev[neg_items]])
    margin = 0.8 * (1 - cos_b)  # row 0: angle 0 → margin 0; row 1: 45° → 0.8 (1 − √½)
    widened = np.cos(np.minimum(np.arccos(cos) + margin, np.pi))
    main = softmax_nll(widened, cos_neg, 0.5)
    bias = softmax_nll(cos_b, cos_b_neg, 0.25)
    terms = bc_model(negatives).loss(batch())
    assert terms["click"].item() == pytest.approx(main, rel=1e-5)
    assert terms["bias"].item() == pytest.approx(bias, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(0.7 * main + 0.3 * bias, rel=1e-5)


def test_bc_sigmoid_margin_uses_the_raw_bias_score_and_the_angle_is_capped_at_pi():
    model = bc_model("sampled", margin="sigmoid", margin_weight=10.0)
    # raw bias scores of the positives: u0·i0-level(3,0) = 3; u1·(3,0) = 3
    margin = torch.full((2,), 10.0 * (1 - 1 / (1 + math.exp(-3))))
    _, got = model._bias_branch(batch(), batch().neg)
    torch.testing.assert_close(got, margin)
    capped = bcloss.margin_softmax(torch.tensor([0.0]), torch.zeros(1, 1), torch.tensor([9.0]),
                                   tau=1.0)  # fmt: skip
    assert capped.item() == pytest.approx(math.log(math.exp(-1) + 1) + 1, rel=1e-6)  # cos π = -1


def test_bc_bias_branch_freezes_after_the_set_epochs():
    model = bc_model("sampled", freeze_bias_after=1)
    model.loss(batch())["loss"].backward()
    assert model.user_pop.grad is not None
    model.zero_grad(set_to_none=True)
    model.end_epoch()
    model.loss(batch())["loss"].backward()
    assert model.user_pop.grad is None and model.item_pop.grad is None


# --- registry, schema, training through the run stage ---------------------------------------------


def test_the_registry_and_schema_know_the_new_methods():
    from dice.schema import config_schema

    schema = config_schema()
    text = str(schema)
    for key in NEW_KEYS:
        assert key in REGISTRY
        assert f"'{key}'" in text
    for name in ("popularity_exponent", "inference_exponent", "item_weight", "user_weight",
                 "reference", "propensity_exponent", "propensity_clip", "temperature",
                 "margin_weight"):  # fmt: skip
        assert f"'{name}'" in text, name


@pytest.mark.parametrize("backbone_name", ["mf", "lightgcn"])
@pytest.mark.parametrize("method", NEW_KEYS)
def test_each_method_trains_and_its_loss_goes_down(method, backbone_name, suite_config, tmp_path,
                                                   small_split):  # fmt: skip
    small_split.save(tmp_path / "split", meta={"seed": 0})
    settings = run_settings(suite_config, method=method, backbone=backbone_name)
    settings["train"].update(max_epochs=4, batch_size=256)
    info = train_run(tmp_path / "split", settings, seed=0, out=tmp_path / "run", progress=False)
    assert info["epochs"] == 4 and read_json(tmp_path / "run" / "train.json")["trainable"]
    import pandas as pd

    losses = pd.read_csv(tmp_path / "run" / "history.csv")["loss"].to_numpy()
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses


def test_pda_popularity_is_the_guarded_normal_train_count(small_split):
    from dice.guards import check_model

    counts = small_split.train_normal.item_counts()
    model = pda.PDA(MFBackbone(small_split.n_users, small_split.n_items, 4,
                               generator=torch.Generator().manual_seed(0)),
                    torch.from_numpy(counts), config=pda.PDASettings())  # fmt: skip
    check_model(model, small_split)  # the normal-train counts pass the ItemPop guard
    leaky = pda.PDA(model.backbone, torch.from_numpy(small_split.train.item_counts()),
                    config=pda.PDASettings())  # fmt: skip
    if not np.array_equal(small_split.train.item_counts(), counts):
        with pytest.raises(Exception, match="leakage"):
            check_model(leaky, small_split)


def test_a_batch_of_one_positive_has_no_in_batch_negative():
    """A batch of one positive has no in-batch negative: its softmax over itself is 0."""
    model = bc_model("in_batch")
    one = Batch(torch.tensor([0]), torch.tensor([0]), torch.tensor([[1, 2]]), torch.tensor([False]))
    assert model.loss(one)["click"].item() == pytest.approx(0.0, abs=1e-6)
