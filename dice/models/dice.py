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
import torch.nn.functional as F
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
        #: Compute the discrepancy on the first this-many positives of each batch only (None:
        #: the whole batch, the official semantics). Batches are shuffled, so with 128 at a
        #: larger batch size this is an official-size batch, and its expectation is the mean of
        #: the official discrepancy over the batch's 128-row chunks (a fast-profile option; dCor
        #: costs O(n²) in the batch's unique entities).
        self.discrepancy_rows: int | None = getattr(config, "discrepancy_rows", None)
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
        # The batch's unique users and items (the discrepancy's entities, code §2.7). Each table
        # is gathered once on them; the (positive, negative) pairs index those rows, so every
        # table gets one dense-gradient scatter per step instead of three.
        users, user_row = torch.unique(batch.users, return_inverse=True)  # (U_b,), (B,)
        items, item_row = torch.unique(
            torch.cat([batch.pos.unsqueeze(1), batch.neg], dim=1), return_inverse=True
        )  # (I_b,), (B, 1+K): column 0 is the positive
        u_int, i_int = u_int_all[users], i_int_all[items]
        u_con, i_con = u_con_all[users], i_con_all[items]
        d_int = _pair_differences(u_int[user_row], i_int[item_row])  # (B, K)
        d_con = _pair_differences(u_con[user_row], i_con[item_row])  # (B, K)
        mask = batch.mask  # (B, K), True ⇔ O2 (negative more popular)
        click = -F.logsigmoid(d_int + d_con).mean()
        interest = masked_bpr(d_int, mask)
        # masked_bpr(-d_con, m) + masked_bpr(d_con, 1 - m): the masks are complementary, so
        # the two means over all B·K entries add up to one mean of the sign-flipped differences
        conformity = -F.logsigmoid(torch.where(mask, -d_con, d_con)).mean()
        rows = self.discrepancy_rows
        if rows is not None and rows < len(user_row):  # unique entities of the first `rows` rows
            u_keep, i_keep = torch.unique(user_row[:rows]), torch.unique(item_row[:rows])
            u_int, u_con, i_int, i_con = u_int[u_keep], u_con[u_keep], i_int[i_keep], i_con[i_keep]
        dis = discrepancy(i_int, i_con, kind=self.discrepancy_kind)
        dis = dis + discrepancy(u_int, u_con, kind=self.discrepancy_kind)
        dtype = click.dtype  # buffers stay on the device: no host sync per step
        total = (
            click
            + self.alpha_interest.to(dtype) * interest
            + self.alpha_conformity.to(dtype) * conformity
            + self.beta * dis
        )
        return {
            "loss": total,
            "click": click.detach(),
            "interest": interest.detach(),
            "conformity": conformity.detach(),
            "discrepancy": dis.detach(),
            "o2_share": mask.to(dtype).mean(),
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


def _pair_differences(user: Tensor, items: Tensor) -> Tensor:
    """s(u, i) − s(u, j) for every (positive, negative) entry: (B, K).

    Args:
        user: (B, d) the row's user embedding.
        items: (B, 1+K, d) the positive's embedding, then its K negatives'.
    """
    scores = (items * user.unsqueeze(1)).sum(-1)  # (B, 1+K); cheaper than bmm at these sizes
    return scores[:, :1] - scores[:, 1:]
