"""BC loss (Zhang et al., NeurIPS'22, "Incorporating Bias-aware Margins into Contrastive Loss for
Collaborative Filtering", §3; docs/debiasing-methods.md#bc-loss).

A popularity-bias branch embeds each user's and each item's popularity level (the dense rank of
its training degree) in its own tables and is trained with a softmax loss of its own (L_b,
temperature τ_b). Its angle ξ_ui between the user's and the positive item's level embeddings
sets a bias-aware angular margin M_ui, added to the main branch's angle θ_ui between the
backbone's user and positive-item embeddings in a softmax loss over the negatives:

    L_main = −log  e^{cos(min(θ_ui + w·M_ui, π))/τ} / (e^{cos(min(θ_ui + w·M_ui, π))/τ}
                                                       + Σ_j e^{cos θ_uj / τ})
    L      = (1 − λ) L_main + λ L_b

with M_ui = 1 − cos ξ_ui (`margin: cosine`) or 1 − σ(⟨u_b, i_b⟩) on the unnormalised level
embeddings (`margin: sigmoid`, the authors' code). The negatives j are the batch's other
positives (`bc_negatives: in_batch`, the authors' LightGCN setting) or the sampler's K uniform
negatives (`sampled`). Ranking is by cos θ_ui.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dice.methods.spec import Method
from dice.models.base import Batch, Recommender, Scorer, Scoring, inner_scorer, uniform_init
from dice.settings import setting

BC_REPO = "github.com/anzhang314/BC-Loss at"
BC_CODE = f"{BC_REPO} c5ad62b509fe18c6d4d7657eeb201d851638a9e9 parse.py"
BC_MODEL = f"{BC_REPO} 798e90bcbcc2eeae7568ba789c6aad0cb6230b0a"


@dataclass(frozen=True)
class BCLossSettings:
    temperature: float = setting(0.07, doc="tau: temperature of the main softmax loss",
                                 exclusiveMinimum=0, source=f"BC loss §3.2; {BC_CODE} --tau1")  # fmt: skip
    bias_temperature: float = setting(
        0.1, doc="temperature of the bias branch's softmax loss", exclusiveMinimum=0,
        source=f"BC loss §3.2; {BC_CODE} --tau2")  # fmt: skip
    bias_weight: float = setting(
        0.5, doc="lambda: loss = (1 - lambda) main + lambda bias branch", minimum=0, maximum=1,
        source=f"{BC_CODE} --w_lambda")  # fmt: skip
    margin_weight: float = setting(
        1.0, doc="w: multiplies the bias-aware margin (0 = no margin: a cosine softmax loss)",
        minimum=0, source="BC loss §3.2 (no weight: 1)")  # fmt: skip
    margin: Literal["cosine", "sigmoid"] = setting(
        "cosine", doc="M = 1 - cos(bias-branch angle), or 1 - sigmoid(bias-branch score) as in "
        "the authors' code", source=f"BC loss §3.2; {BC_MODEL} model.py (BC_LOSS)")  # fmt: skip
    bc_negatives: Literal["in_batch", "sampled"] = setting(
        "in_batch", doc="negatives of the softmax: the batch's other positives, or the sampler's "
        "K uniform negatives", source=f"{BC_REPO} f0d0d10c018130bfb476cb3602a004458fea409b README.md "
        "(LightGCN: in-batch)")  # fmt: skip
    freeze_bias_after: int | None = setting(
        5, doc="stop training the bias branch after this many epochs (null: never)",
        schema={"type": ["integer", "null"], "minimum": 0},
        source=f"{BC_CODE} --freeze_epoch")  # fmt: skip


def popularity_levels(degrees: np.ndarray) -> tuple[np.ndarray, int]:
    """Each entity's level: the dense rank of its degree among the distinct degrees."""
    values, levels = np.unique(np.asarray(degrees), return_inverse=True)
    return levels.astype(np.int64), len(values)


def widen(pos_cos: Tensor, margin: Tensor) -> Tensor:
    """cos(min(θ + margin, π)) for the positives' cosines cos θ: (B,), (B,) → (B,)."""
    angle = torch.arccos(pos_cos.clamp(-1 + 1e-7, 1 - 1e-7))
    return torch.cos(torch.clamp(angle + margin, max=math.pi))


def margin_softmax(pos_cos: Tensor, neg_cos: Tensor, margin: Tensor, *, tau: float) -> Tensor:
    """Mean over rows of −log softmax of the positive, its angle widened by `margin`.

    Args:
        pos_cos: (B,) cosines of the positives; neg_cos: (B, N) cosines of their negatives.
        margin: (B,) angular margins (radians) added to the positive's angle, capped at π.
    """
    logits = torch.cat([widen(pos_cos, margin).unsqueeze(1), neg_cos], dim=1) / tau  # (B, 1+N)
    return -F.log_softmax(logits, dim=1)[:, 0].mean()


def in_batch_margin_softmax(cosines: Tensor, margin: Tensor, *, tau: float) -> Tensor:
    """`margin_softmax` with the batch's other positives as negatives, from the (B, B) cosines
    of every row's user with every row's positive (row b's own positive on the diagonal)."""
    widened = widen(cosines.diagonal(), margin)
    logits = torch.diagonal_scatter(cosines, widened) / tau  # (B, B)
    target = torch.arange(len(cosines), device=cosines.device)
    return F.cross_entropy(logits, target)


def _softmax_loss(u: Tensor, pos: Tensor, neg: Tensor | None, margin: Tensor | None, *,
                  tau: float) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The margin softmax loss of rows (u, pos) against the sampled negatives `neg` (B, K, d),
    or the in-batch ones if `neg` is None; and the positives' cosines (B,)."""
    u, pos = F.normalize(u, dim=-1), F.normalize(pos, dim=-1)
    if neg is None:
        cosines = u @ pos.t()  # (B, B)
        pos_cos = cosines.diagonal()
        widening = torch.zeros_like(pos_cos) if margin is None else margin
        return in_batch_margin_softmax(cosines, widening, tau=tau), pos_cos
    pos_cos = (u * pos).sum(-1)
    neg_cos = torch.einsum("bd,bkd->bk", u, F.normalize(neg, dim=-1))
    widening = torch.zeros_like(pos_cos) if margin is None else margin
    return margin_softmax(pos_cos, neg_cos, widening, tau=tau), pos_cos


class BCLoss(Recommender):
    """A backbone trained with the bias-aware contrastive loss, plus its popularity branch."""

    def __init__(self, backbone: nn.Module, levels: tuple[np.ndarray, int, np.ndarray, int],
                 dim: int, *, config: BCLossSettings, generator: torch.Generator):  # fmt: skip
        super().__init__()
        user_levels, n_user_levels, item_levels, n_item_levels = levels
        self.backbone, self.config = backbone, config
        self.register_buffer("user_level", torch.from_numpy(user_levels))
        self.register_buffer("item_level", torch.from_numpy(item_levels))
        self.user_pop = uniform_init(n_user_levels, dim, generator=generator)
        self.item_pop = uniform_init(n_item_levels, dim, generator=generator)
        self.register_buffer("epochs_done", torch.zeros((), dtype=torch.int64))

    def _bias_branch(self, batch: Batch, neg: Tensor | None) -> tuple[Tensor, Tensor]:
        """The branch's own loss and the margins of the batch's positives."""
        cfg, freeze = self.config, self.config.freeze_bias_after
        user_pop, item_pop = self.user_pop, self.item_pop
        if freeze is not None and int(self.epochs_done) >= freeze:
            user_pop, item_pop = user_pop.detach(), item_pop.detach()
        u = user_pop[self.user_level[batch.users]]
        pos = item_pop[self.item_level[batch.pos]]
        neg_b = None if neg is None else item_pop[self.item_level[neg]]
        loss, pos_cos = _softmax_loss(u, pos, neg_b, None, tau=cfg.bias_temperature)
        if cfg.margin == "cosine":
            margin = 1.0 - pos_cos
        else:
            margin = 1.0 - torch.sigmoid((u * pos).sum(-1))
        return loss, cfg.margin_weight * margin

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        neg = batch.neg if self.config.bc_negatives == "sampled" else None
        bias, margin = self._bias_branch(batch, neg)
        user_emb, item_emb = self.backbone()
        neg_emb = None if neg is None else item_emb[neg]
        main, _ = _softmax_loss(user_emb[batch.users], item_emb[batch.pos], neg_emb, margin,
                                tau=self.config.temperature)  # fmt: skip
        lam = self.config.bias_weight
        total = (1 - lam) * main + lam * bias
        return {"loss": total, "click": main.detach(), "bias": bias.detach(),
                "margin": margin.detach().mean()}  # fmt: skip

    def scorer(self, mode: Scoring = "full") -> Scorer:
        if mode != "full":
            raise ValueError(f"BC loss has no {mode!r} scoring")
        users, items = self.backbone()
        return inner_scorer(F.normalize(users, dim=-1), F.normalize(items, dim=-1))

    def end_epoch(self) -> dict[str, float]:
        self.epochs_done.add_(1)
        return {}

    def epoch_state(self) -> dict[str, float]:
        freeze = self.config.freeze_bias_after
        return {"bias_frozen": float(freeze is not None and int(self.epochs_done) >= freeze)}


def build(settings: BCLossSettings, context) -> BCLoss:
    train = context.split.train
    user_degree = np.bincount(train.user, minlength=context.split.n_users)
    item_degree = context.popularity(("train_normal", "train_intervened"), use="BC loss")
    levels = (*popularity_levels(user_degree), *popularity_levels(item_degree))
    return BCLoss(context.backbone(context.train_graph()), levels, context.config.dim,
                  config=settings, generator=context.generator)  # fmt: skip


METHOD = Method(family="bc-loss", settings=BCLossSettings, build=build)
