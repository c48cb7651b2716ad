"""Rel-MF (Saito et al., WSDM'20, "Unbiased Recommender Learning from Missing-Not-At-Random
Implicit Feedback", §4; docs/debiasing-methods.md#rel-mf).

A pointwise loss whose expectation is the loss on true relevance: with the exposure propensity
θ_i = max((c_i / max c)^η, clip) from training item counts c (normal + intervened train, the
data the model fits), a click (Y = 1) contributes (1/θ) δ₁(ŷ) + (1 − 1/θ) δ₀(ŷ) and an unlabeled
pair (Y = 0) contributes δ₀(ŷ), with ŷ = σ(⟨u, i⟩) and

    bce (the paper's log loss):  δ₁ = −log ŷ,        δ₀ = −log(1 − ŷ)
    mse (the authors' code):     δ₁ = (1 − ŷ)²,      δ₀ = ŷ²

Each positive's K uniform negatives are its unlabeled pairs; the loss is half of [the positive's
term + the mean of its negatives' terms], averaged over positives: the mean over an equal number
of clicked and unlabeled pairs, as the authors' batches hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor, nn

from dice.methods.spec import Method
from dice.models.base import Batch, Recommender, Scorer, Scoring, inner_scorer
from dice.settings import setting

RELMF_CODE = "github.com/usaito/unbiased-implicit-rec-real"
PARTS = ("train_normal", "train_intervened")  # the data the model fits (as IPS)


@dataclass(frozen=True)
class RelMFSettings:
    propensity_exponent: float = setting(
        0.5, doc="eta: propensity theta = (count / max count)^eta", minimum=0,
        source=f"Rel-MF §5.1; {RELMF_CODE} at ff1435ea82613b1ed5c2690b77c130ddf57c0b27 "
        "src/data/preprocessor.py (pscore)")  # fmt: skip
    propensity_clip: float = setting(
        0.0, doc="lower clip of theta (0: no clipping, as Rel-MF; > 0: the clipped variant)",
        minimum=0, maximum=1, source=f"{RELMF_CODE} at 1962f8ee0bfd1d37feb72b38d2fe946dafae689b "
        "src/trainer.py (clip 0 unless crmf)")  # fmt: skip
    relmf_loss: Literal["bce", "mse"] = setting(
        "bce", doc="delta: log loss (the paper's unbiased binary cross-entropy; unbounded below "
        "for clicks of rare items unless theta is clipped) or squared loss (the authors' code)",
        source=f"Rel-MF §4 eq. (9); {RELMF_CODE} at 1962f8ee0bfd1d37feb72b38d2fe946dafae689b "
        "src/models/recommenders.py (squared loss)")  # fmt: skip


def propensities(counts: NDArray, *, eta: float, clip: float) -> NDArray[np.float64]:
    """θ_i = max((c_i / max c)^η, clip) from training item counts."""
    counts = np.asarray(counts, dtype=np.float64)
    theta = (counts / max(counts.max(), 1.0)) ** eta
    return np.maximum(theta, clip)


def relmf_loss(pos: Tensor, neg: Tensor, theta: Tensor, *, kind: str = "bce") -> Tensor:
    """Rel-MF's unbiased pointwise loss.

    Args:
        pos: (B,) logits of the clicked pairs; neg: (B, K) logits of their unlabeled pairs.
        theta: (B,) propensities of the clicked items.
        kind: "bce" (δ₁ = −log ŷ, δ₀ = −log(1−ŷ)) or "mse" (δ₁ = (1−ŷ)², δ₀ = ŷ²).
    """
    if kind == "mse":
        one_pos, zero_pos = (1 - torch.sigmoid(pos)) ** 2, torch.sigmoid(pos) ** 2
        zero_neg = torch.sigmoid(neg) ** 2
    elif kind == "bce":
        one_pos, zero_pos, zero_neg = F.softplus(-pos), F.softplus(pos), F.softplus(neg)
    else:
        raise ValueError(f"unknown Rel-MF loss {kind!r}")
    inverse = 1.0 / theta
    clicked = inverse * one_pos + (1 - inverse) * zero_pos  # (B,)
    return 0.5 * (clicked + zero_neg.mean(dim=1)).mean()


class RelMF(Recommender):
    """A backbone trained with Rel-MF's propensity-weighted pointwise loss."""

    def __init__(self, backbone: nn.Module, theta: Tensor, *, kind: str):
        super().__init__()
        self.backbone, self.kind = backbone, kind
        self.register_buffer("theta", theta.to(torch.float32))

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        user_emb, item_emb = self.backbone()
        u = user_emb[batch.users]  # (B, d)
        pos = (u * item_emb[batch.pos]).sum(-1)  # (B,)
        neg = torch.einsum("bd,bkd->bk", u, item_emb[batch.neg])  # (B, K)
        total = relmf_loss(pos, neg, self.theta[batch.pos], kind=self.kind)
        return {"loss": total, "click": total.detach()}

    def scorer(self, mode: Scoring = "full") -> Scorer:
        if mode != "full":
            raise ValueError(f"Rel-MF has no {mode!r} scoring")
        return inner_scorer(*self.backbone())


def build(settings: RelMFSettings, context) -> RelMF:
    counts = context.popularity(PARTS, use="Rel-MF")
    theta = propensities(counts, eta=settings.propensity_exponent, clip=settings.propensity_clip)
    return RelMF(context.backbone(context.train_graph()), torch.from_numpy(theta),
                 kind=settings.relmf_loss)  # fmt: skip


METHOD = Method(family="rel-mf", settings=RelMFSettings, build=build)
