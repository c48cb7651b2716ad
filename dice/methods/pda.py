"""PD and PDA (Zhang et al., SIGIR'21, "Causal Intervention for Leveraging Popularity Bias in
Recommendation", §3; docs/debiasing-methods.md#pd-and-pda).

Training fits the click probability of the causal graph's confounded model,
P(click | u, i, m_i) ∝ ELU'(f(u, i)) · m_i^γ with ELU'(x) = ELU(x) + 1 > 0, by BPR on it. The
suite's splits have no time stages: m_i is the normal-train count of item i, min-max normalised
to [0, 1] over the items (the public code's scaling of its Laplace-smoothed count shares).
Ranking: PD (deconfounded, `inference: pd`) scores ELU'(f), the same order as f; PDA
(`inference: pda`) scores ELU'(f) · m_i^γ̃, with the normal-train popularity standing in for the
predicted popularity of the next stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dice.losses import bpr
from dice.methods.spec import Method
from dice.models.base import Batch, Recommender, Scorer, Scoring
from dice.settings import setting

PDA_CODE = "github.com/zyang1580/PDA at fbfa4e4ab28add12bf5842c25ec520baa15f6911"
PARTS = ("train_normal",)  # the popularity PDA uses (its guard: ItemPop's normal-train counts)


@dataclass(frozen=True)
class PDASettings:
    popularity_exponent: float = setting(
        0.1, doc="gamma: training score ELU'(f) * m^gamma", minimum=0,
        source=f"PDA §3.3 eq. (6); {PDA_CODE} MF/parse.py --pop_exp")  # fmt: skip
    inference_exponent: float = setting(
        0.1, doc="gamma-tilde: PDA ranks by ELU'(f) * m^gamma-tilde (inference: pda only)",
        minimum=0, source="PDA §3.4 eq. (8); no separate value published: gamma's default")  # fmt: skip
    inference: Literal["pd", "pda"] = setting(
        "pda", doc="ranking: pd (deconfounded, ELU'(f)) or pda (ELU'(f) * m^gamma-tilde)",
        source="PDA §3.4")  # fmt: skip


def elu_plus_one(x: Tensor) -> Tensor:
    """ELU'(x) = ELU(x) + 1: exp(x) for x < 0, x + 1 otherwise (positive everywhere)."""
    return F.elu(x) + 1.0


def normalised_popularity(counts: Tensor) -> Tensor:
    """Counts min-max scaled to [0, 1] (all zeros if every count is equal)."""
    counts = counts.to(torch.float64)
    span = counts.max() - counts.min()
    if float(span) == 0.0:
        return torch.zeros_like(counts, dtype=torch.float32)
    return ((counts - counts.min()) / span).to(torch.float32)


class PDA(Recommender):
    """A backbone trained with BPR on ELU'(f) · m^γ; ranks by PD or PDA."""

    def __init__(self, backbone: nn.Module, popularity: Tensor, *, config: PDASettings):
        super().__init__()
        self.backbone = backbone
        self.gamma, self.gamma_tilde = config.popularity_exponent, config.inference_exponent
        self.inference = config.inference
        # `popularity` holds the raw normal-train counts: the leakage guard recounts them
        self.register_buffer("popularity", popularity.to(torch.float32))
        self.register_buffer("pop_scaled", normalised_popularity(popularity), persistent=False)

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        user_emb, item_emb = self.backbone()
        u = user_emb[batch.users]  # (B, d)
        pos = elu_plus_one((u * item_emb[batch.pos]).sum(-1))  # (B,)
        neg = elu_plus_one(torch.einsum("bd,bkd->bk", u, item_emb[batch.neg]))  # (B, K)
        pos = pos * self.pop_scaled[batch.pos].pow(self.gamma)
        neg = neg * self.pop_scaled[batch.neg].pow(self.gamma)
        total = bpr(pos, neg)
        return {"loss": total, "click": total.detach()}

    def scorer(self, mode: Scoring = "full") -> Scorer:
        if mode != "full":
            raise ValueError(f"PDA has no {mode!r} scoring")
        user_emb, item_emb = self.backbone()
        item_t = item_emb.t().contiguous()  # (d, I)
        factor = self.pop_scaled.pow(self.gamma_tilde) if self.inference == "pda" else None

        def score(users: Tensor) -> Tensor:
            scores = elu_plus_one(user_emb[users] @ item_t)  # (B, I)
            return scores if factor is None else scores * factor

        return score


def build(settings: PDASettings, context) -> PDA:
    counts = torch.from_numpy(context.popularity(PARTS, use="PDA"))
    return PDA(context.backbone(context.train_graph()), counts, config=settings)


METHOD = Method(family="pda", settings=PDASettings, build=build)
