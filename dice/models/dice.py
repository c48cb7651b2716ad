"""DICE: disentangled interest and conformity embeddings (Zheng et al., WWW'21, §3).

Two backbones of the same kind hold the interest and the conformity embeddings (64 each). The
click score is their sum, eq. (3): s = ⟨u_int, i_int⟩ + ⟨u_con, i_con⟩, equal to the inner
product of the concatenations, eq. (9). With mask m = 1 where the negative is more popular (O2)
and m = 0 otherwise (O1), per (positive i, negative j) entry and means over all B·K entries
(official-code §2.7):

    L_click = −mean log σ(Δ_int + Δ_con)                      eq. (8)
    L_int   = −mean m · log σ(Δ_int)                          eq. (7), O2 only
    L_con   = −mean m · log σ(−Δ_con) − mean (1−m) log σ(Δ_con)   eq. (6), reversed on O2
    L       = L_click + α_int L_int + α_con L_con + β D        eq. (10)

where D is the discrepancy of the batch's unique items and users (interest vs conformity
tables): +dCor (minimised) or −L1 / −L2 (maximised). The curriculum (§3.3) multiplies α and the
PNSM margin m_up by `decay` after every epoch; both live in buffers so they are checkpointed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dice.config import ModelConfig
from dice.losses import discrepancy, masked_bpr
from dice.models.base import Batch, Recommender, Scorer, Scoring, inner_scorer


class DICE(Recommender):
    """Interest + conformity backbones trained with the four DICE tasks."""

    scorings: tuple[Scoring, ...] = ("full", "interest", "conformity")

    def __init__(self, interest: nn.Module, conformity: nn.Module, *, config: ModelConfig):
        super().__init__()
        self.interest, self.conformity = interest, conformity
        self.negatives = config.negatives
        self.discrepancy_kind = config.discrepancy
        self.beta = config.discrepancy_weight
        self.decay = config.decay
        self.curriculum = config.curriculum
        self.pool = config.pool
        # Curriculum state: float64 buffers, saved with the model and restored on resume.
        self.register_buffer(
            "alpha_interest", torch.tensor(config.interest_weight, dtype=torch.float64)
        )
        self.register_buffer(
            "alpha_conformity", torch.tensor(config.conformity_weight, dtype=torch.float64)
        )
        self.register_buffer(
            "margin_up", torch.tensor(float(config.margin_up), dtype=torch.float64)
        )

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        if batch.mask is None:
            raise ValueError("DICE needs the O1/O2 mask from its negative sampler")
        u_int_all, i_int_all = self.interest()
        u_con_all, i_con_all = self.conformity()
        d_int = _pair_differences(u_int_all, i_int_all, batch)  # (B, K)
        d_con = _pair_differences(u_con_all, i_con_all, batch)  # (B, K)
        mask = batch.mask.to(d_int.dtype)  # (B, K), 1 ⇔ O2 (negative more popular)
        click = masked_bpr(d_int + d_con, torch.ones_like(mask))
        interest = masked_bpr(d_int, mask)
        conformity = masked_bpr(-d_con, mask) + masked_bpr(d_con, 1.0 - mask)
        items = torch.unique(torch.cat([batch.pos, batch.neg.flatten()]))
        users = torch.unique(batch.users)
        dis = discrepancy(i_int_all[items], i_con_all[items], kind=self.discrepancy_kind)
        dis = dis + discrepancy(u_int_all[users], u_con_all[users], kind=self.discrepancy_kind)
        total = (
            click
            + float(self.alpha_interest) * interest
            + float(self.alpha_conformity) * conformity
            + self.beta * dis
        )
        return {
            "loss": total,
            "click": click.detach(),
            "interest": interest.detach(),
            "conformity": conformity.detach(),
            "discrepancy": dis.detach(),
            "o2_share": mask.mean().detach(),
        }

    def scorer(self, mode: Scoring = "full") -> Scorer:
        u_int, i_int = self.interest()
        u_con, i_con = self.conformity()
        if mode == "interest":
            return inner_scorer(u_int, i_int)
        if mode == "conformity":
            return inner_scorer(u_con, i_con)
        if mode == "full":  # eq. (9): concatenation, whose inner product is the summed score
            return inner_scorer(torch.cat([u_int, u_con], 1), torch.cat([i_int, i_con], 1))
        raise ValueError(f"unknown scoring {mode!r}")

    def embeddings(self) -> dict[str, Tensor]:
        """User and item interest/conformity embeddings (for t-SNE and IOU figures)."""
        u_int, i_int = self.interest()
        u_con, i_con = self.conformity()
        return {"user_interest": u_int, "item_interest": i_int,
                "user_conformity": u_con, "item_conformity": i_con}  # fmt: skip

    def epoch_state(self) -> dict[str, float]:
        return {
            "alpha_interest": float(self.alpha_interest),
            "alpha_conformity": float(self.alpha_conformity),
            "margin_up": float(self.margin_up),
        }

    def end_epoch(self) -> dict[str, float]:
        if self.curriculum:  # DICE §3.3, code §2.7: α and m_up × 0.9 per epoch, no floor
            self.alpha_interest.mul_(self.decay)
            self.alpha_conformity.mul_(self.decay)
            self.margin_up.mul_(self.decay)
        return self.epoch_state()


def _pair_differences(user_emb: Tensor, item_emb: Tensor, batch: Batch) -> Tensor:
    """s(u, i) − s(u, j) for every (positive, negative) entry of the batch: (B, K)."""
    u = user_emb[batch.users]  # (B, d)
    pos = (u * item_emb[batch.pos]).sum(-1)  # (B,)
    neg = torch.einsum("bd,bkd->bk", u, item_emb[batch.neg])  # (B, K)
    return pos[:, None] - neg
