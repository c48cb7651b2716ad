"""CausE (Bonner & Vasile, RecSys'18) as the authors' code runs it (docs/authors-code.md#cause).

Control item embeddings are fitted on normal training data, treatment item embeddings on the
intervened-train part, with a shared user table (MF); a discrepancy term (mean squared
difference) ties the two. The official loss is pointwise BCE over each positive and its K uniform
negatives (labels 1, 0, …, 0); `loss="bpr"` follows the paper's wording instead. Ranking uses
the control embeddings (the authors' code), or with `ranking="treatment"` the treatment ones
(Bonner & Vasile's CausE, which predicts outcomes under random exposure). On LightGCN the two sides are two (U+I)×d tables propagated over the
normal-only and the intervened-only graphs, and the discrepancy compares the batch's user and item
features (with repeats), as in the official LGNCausE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dice.errors import DiceError
from dice.losses import bpr
from dice.methods.spec import Method
from dice.models.base import Batch, Recommender, Scorer, Scoring, inner_scorer, uniform_init
from dice.models.mf import MFBackbone
from dice.settings import setting


@dataclass(frozen=True)
class CausESettings:
    discrepancy_weight: float = setting(
        0.01, doc="weight of the control/treatment discrepancy", minimum=0,
        source="authors' code: dis_pen (config cfgs)")  # fmt: skip
    cause_loss: Literal["bce", "bpr"] = setting(
        "bce", doc="CausE loss (bce as in the authors' code, bpr as the paper says)",
        source="authors' code: CausE model")  # fmt: skip
    ranking: Literal["control", "treatment"] = setting(
        "control", doc="embeddings that rank: control (normal data, the authors' code) or "
        "treatment (intervened data: Bonner & Vasile, RecSys'18, predict with the embeddings "
        "of random exposure)", source="authors' code: recommender.py CausE ranking")  # fmt: skip


class MFTreatmentSide(nn.Module):
    """Treatment side of MF-CausE: the control's user table with its own item table."""

    def __init__(self, control: MFBackbone, *, generator: torch.Generator):
        super().__init__()
        self.n_users, self.n_items = control.n_users, control.n_items
        self.control = [control]  # a plain list: shared, not registered twice
        self.item = uniform_init(control.n_items, control.item.shape[1], generator=generator)

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.control[0].user, self.item


class CausE(Recommender):
    """Control/treatment embeddings with a discrepancy penalty; ranks with `ranking`'s side."""

    def __init__(
        self,
        control: nn.Module,
        treatment: nn.Module,
        *,
        discrepancy_weight: float,
        loss: Literal["bce", "bpr"] = "bce",
        shared_users: bool,
        ranking: Literal["control", "treatment"] = "control",
    ):
        super().__init__()
        self.control, self.treatment = control, treatment
        self.discrepancy_weight = discrepancy_weight
        self.loss_kind = loss
        self.shared_users = shared_users
        self.ranking = ranking

    def _part_loss(self, users: Tensor, items: Tensor, rows: Tensor, b: Batch) -> Tensor:
        if not bool(rows.any()):
            return users.new_zeros(())  # no rows of this part in the batch: no term
        u = users[b.users[rows]]  # (b, d)
        pos = (u * items[b.pos[rows]]).sum(-1)  # (b,)
        neg = torch.einsum("bd,bkd->bk", u, items[b.neg[rows]])  # (b, K)
        if self.loss_kind == "bpr":
            return bpr(pos, neg)
        logits = torch.cat([pos[:, None], neg], dim=1)  # (b, 1+K)
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1.0
        return F.binary_cross_entropy_with_logits(logits, labels)

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        users_c, items_c = self.control()
        users_t, items_t = self.treatment()
        control = self._part_loss(users_c, items_c, ~batch.intervened, batch)
        treatment = self._part_loss(users_t, items_t, batch.intervened, batch)
        items = torch.cat([batch.pos, batch.neg.flatten()])
        if self.shared_users:  # MF: unique batch items (official CausE)
            items = torch.unique(items)
            discrepancy = F.mse_loss(items_c[items], items_t[items])
        else:  # LightGCN: batch users and items with repeats (official LGNCausE)
            discrepancy = F.mse_loss(users_c[batch.users], users_t[batch.users]) + F.mse_loss(
                items_c[items], items_t[items]
            )
        total = control + treatment + self.discrepancy_weight * discrepancy
        return {
            "loss": total,
            "control": control.detach(),
            "treatment": treatment.detach(),
            "discrepancy": discrepancy.detach(),
        }

    def scorer(self, mode: Scoring = "full") -> Scorer:
        if mode != "full":
            raise ValueError(f"CausE has no {mode!r} scoring")
        users, items = self.treatment() if self.ranking == "treatment" else self.control()
        return inner_scorer(users, items)


def build(settings: CausESettings, context) -> CausE:
    split = context.split
    if len(split.train_intervened) == 0:
        raise DiceError(
            "CausE needs intervened training data, but this split has none "
            "(intervened_train_share is 0); drop cause from this split's methods"
        )
    mf = context.backbone_name == "mf"
    if mf:
        control = context.backbone(None)
        treatment = MFTreatmentSide(control, generator=context.generator)
    else:
        control = context.backbone(split.train_normal)
        treatment = context.backbone(split.train_intervened)
    return CausE(control, treatment, discrepancy_weight=settings.discrepancy_weight,
                 loss=settings.cause_loss, shared_users=mf, ranking=settings.ranking)  # fmt: skip


METHOD = Method(family="cause", settings=CausESettings, build=build, dual_table=True,
                needs_intervened=True)  # fmt: skip
