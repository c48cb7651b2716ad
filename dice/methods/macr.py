"""MACR (Wei et al., KDD'21, "Model-Agnostic Counterfactual Reasoning for Eliminating Popularity
Bias in Recommender System", §4; docs/debiasing-methods.md#macr).

Besides the backbone's matching score ŷ_k = ⟨u, i⟩, a user branch ŷ_u = ⟨u, w_u⟩ and an item
branch ŷ_i = ⟨i, w_i⟩ (one learned d-vector each, on the backbone's output embeddings) model the
direct effects of user activity and item popularity. Per positive and each of its K negatives,
with BCE(x, y) the binary cross-entropy of the logit x against label y:

    ŷ_ui = ŷ_k · σ(ŷ_i) · σ(ŷ_u)                                    fused prediction, eq. (4)
    L    = BCE(ŷ_ui) + α · BCE(ŷ_i) + β · BCE(ŷ_u)                  multi-task loss, eq. (6)

each term the mean over positives of [its label-1 term + the mean of its negatives' label-0
terms]. Ranking is the counterfactual inference of eq. (8):
ŷ_k · σ(ŷ_i) · σ(ŷ_u) − c · σ(ŷ_i) · σ(ŷ_u).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dice.methods.spec import Method
from dice.models.base import Batch, Recommender, Scorer, Scoring, uniform_init
from dice.settings import setting

MACR_CODE = "github.com/weitianxin/MACR at 4b7e491463158fa663e1e95b5794a34fb00a038a"


@dataclass(frozen=True)
class MACRSettings:
    item_weight: float = setting(
        1e-3, doc="alpha: weight of the item branch's BCE loss", minimum=0,
        source=f"MACR §4.2 eq. (6); {MACR_CODE} README.md, ML10M command --alpha")  # fmt: skip
    user_weight: float = setting(
        1e-3, doc="beta: weight of the user branch's BCE loss", minimum=0,
        source=f"MACR §4.2 eq. (6); {MACR_CODE} README.md, ML10M command --beta")  # fmt: skip
    reference: float = setting(
        30.0, doc="c: the reference matching score subtracted at inference (tuned on validation "
        "in the paper)", source=f"MACR §4.3 eq. (8); {MACR_CODE} README.md, ML10M command "
        "--start 30 (the c searched)")  # fmt: skip


def bce_rows(pos: Tensor, neg: Tensor) -> Tensor:
    """Mean over rows of −log σ(pos_b) − mean_k log(1 − σ(neg_bk)): (B,), (B, K) → scalar."""
    return (F.softplus(-pos) + F.softplus(neg).mean(dim=1)).mean()


def macr_terms(match_pos: Tensor, match_neg: Tensor, item_pos: Tensor, item_neg: Tensor,
               user: Tensor) -> dict[str, Tensor]:  # fmt: skip
    """MACR's three BCE terms from the branch logits.

    Args:
        match_pos, match_neg: (B,), (B, K) matching scores ŷ_k.
        item_pos, item_neg: (B,), (B, K) item-branch logits ŷ_i.
        user: (B,) user-branch logits ŷ_u (one per row: the same user for positive and negatives).
    """
    gate_u = torch.sigmoid(user)
    fused_pos = match_pos * torch.sigmoid(item_pos) * gate_u
    fused_neg = match_neg * torch.sigmoid(item_neg) * gate_u.unsqueeze(1)
    main = bce_rows(fused_pos, fused_neg)
    item = bce_rows(item_pos, item_neg)
    user_term = (F.softplus(-user) + F.softplus(user)).mean()  # label 1 (positive), 0 (negatives)
    return {"click": main, "item": item, "user": user_term}


class MACR(Recommender):
    """A backbone with MACR's user and item branches; ranks counterfactually."""

    def __init__(self, backbone: nn.Module, dim: int, *, config: MACRSettings,
                 generator: torch.Generator):  # fmt: skip
        super().__init__()
        self.backbone = backbone
        self.w_item = uniform_init(dim, 1, generator=generator)  # (d, 1)
        self.w_user = uniform_init(dim, 1, generator=generator)  # (d, 1)
        self.alpha, self.beta, self.c = config.item_weight, config.user_weight, config.reference

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        user_emb, item_emb = self.backbone()
        u, pos, neg = user_emb[batch.users], item_emb[batch.pos], item_emb[batch.neg]
        terms = macr_terms(
            (u * pos).sum(-1),
            torch.einsum("bd,bkd->bk", u, neg),
            (pos @ self.w_item).squeeze(-1),
            (neg @ self.w_item).squeeze(-1),
            (u @ self.w_user).squeeze(-1),
        )
        total = terms["click"] + self.alpha * terms["item"] + self.beta * terms["user"]
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def scorer(self, mode: Scoring = "full") -> Scorer:
        if mode != "full":
            raise ValueError(f"MACR has no {mode!r} scoring")
        user_emb, item_emb = self.backbone()
        item_t = item_emb.t().contiguous()  # (d, I)
        item_gate = torch.sigmoid(item_emb @ self.w_item).squeeze(-1)  # (I,)
        user_gate = torch.sigmoid(user_emb @ self.w_user)  # (U, 1)
        c = self.c

        def score(users: Tensor) -> Tensor:
            return (user_emb[users] @ item_t - c) * item_gate * user_gate[users]  # (B, I)

        return score


def build(settings: MACRSettings, context) -> MACR:
    backbone = context.backbone(context.train_graph())
    return MACR(backbone, context.config.dim, config=settings, generator=context.generator)


METHOD = Method(family="macr", settings=MACRSettings, build=build)
