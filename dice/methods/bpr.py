"""Plain BPR on a backbone (`none`: BPR-MF / LightGCN, Rendle et al. 2009).

`BPRRecommender` also serves the IPS family (`dice.methods.ips`: the positive's weight multiplies
its K pair terms, docs/authors-code.md#ips) and the scalar-bias baselines of DICE §4.2.2
(`dice.methods.bias`: learned user / item scalars added to the score).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dice.losses import bpr
from dice.methods.spec import Method
from dice.models.base import Batch, Recommender, Scorer, Scoring


@dataclass(frozen=True)
class BPRSettings:
    """Plain BPR has no settings of its own (backbone and training settings only)."""


def build(settings: BPRSettings, context) -> BPRRecommender:
    return BPRRecommender(context.backbone(context.train_graph()))


METHOD = Method(family="bpr", settings=BPRSettings, build=build)


class BPRRecommender(Recommender):
    """⟨u, i⟩ (+ b_u + b_i) trained with (weighted) BPR on uniform negatives."""

    def __init__(
        self,
        backbone: nn.Module,
        *,
        item_weight: Tensor | None = None,
        user_bias: bool = False,
        item_bias: bool = False,
        self_normalise: bool = False,
    ):
        super().__init__()
        self.backbone = backbone
        n_users, n_items = backbone.n_users, backbone.n_items
        self.user_bias = nn.Parameter(torch.zeros(n_users)) if user_bias else None
        self.item_bias = nn.Parameter(torch.zeros(n_items)) if item_bias else None
        self.self_normalise = self_normalise  # divide by the batch's mean weight (IPS-CN batch)
        if item_weight is not None:
            self.register_buffer("item_weight", item_weight.to(torch.float32))
        else:
            self.item_weight = None

    def _bias(self, users: Tensor, items: Tensor) -> Tensor | float:
        total: Tensor | float = 0.0
        if self.user_bias is not None:
            total = total + self.user_bias[users].view(-1, *([1] * (items.dim() - 1)))
        if self.item_bias is not None:
            total = total + self.item_bias[items]
        return total

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        user_emb, item_emb = self.backbone()
        u = user_emb[batch.users]  # (B, d)
        pos = (u * item_emb[batch.pos]).sum(-1) + self._bias(batch.users, batch.pos)  # (B,)
        neg = torch.einsum("bd,bkd->bk", u, item_emb[batch.neg])  # (B, K)
        neg = neg + self._bias(batch.users, batch.neg)
        weight = None if self.item_weight is None else self.item_weight[batch.pos]
        total = bpr(pos, neg, weight=weight)
        if self.self_normalise and weight is not None:
            total = total / weight.mean()  # Σ w·l / (K Σ w): the self-normalised mean
        return {"loss": total, "click": total.detach()}

    def scorer(self, mode: Scoring = "full") -> Scorer:
        if mode != "full":
            raise ValueError(f"{type(self).__name__} has no {mode!r} scoring")
        user_emb, item_emb = self.backbone()
        item_t = item_emb.t().contiguous()  # (d, I)
        item_bias = self.item_bias
        user_bias = self.user_bias

        def score(users: Tensor) -> Tensor:
            scores = user_emb[users] @ item_t  # (B, I)
            if item_bias is not None:
                scores = scores + item_bias
            if user_bias is not None:
                scores = scores + user_bias[users, None]
            return scores

        return score
