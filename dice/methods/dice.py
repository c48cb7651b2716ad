"""DICE: disentangled interest and conformity embeddings (Zheng et al., WWW'21, §3).

Two backbones of the same kind hold the interest and the conformity embeddings (64 each). The
click score is their sum, eq. (3): s = ⟨u_int, i_int⟩ + ⟨u_con, i_con⟩, equal to the inner
product of the concatenations, eq. (9). With mask m = 1 where the negative is more popular (O2)
and m = 0 otherwise (O1), per (positive i, negative j) entry and means over all B·K entries
(docs/authors-code.md#dice):

    L_click = −mean log σ(Δ_int + Δ_con)                      eq. (8)
    L_int   = −mean m · log σ(Δ_int)                          eq. (7), O2 only
    L_con   = −mean m · log σ(−Δ_con) − mean (1−m) log σ(Δ_con)   eq. (6), reversed on O2
    L       = L_click + α_int L_int + α_con L_con + β D        eq. (10)

where D is the discrepancy of the batch's unique items and users (interest vs conformity
tables): +dCor (minimised) or −L1 / −L2 (maximised). The curriculum (§3.3) multiplies α and the
PNSM margin m_up by `decay` after every epoch; both live in buffers so they are checkpointed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dice.losses import discrepancy, masked_bpr
from dice.methods.spec import Method
from dice.models.base import Batch, Recommender, Scorer, Scoring, inner_scorer
from dice.settings import setting


@dataclass(frozen=True)
class DICESettings:
    interest_weight: float = setting(
        0.1, doc="alpha for the interest loss (initial value under the curriculum)", minimum=0,
        source="DICE §4.1 alpha; authors' code: int_weight")  # fmt: skip
    conformity_weight: float = setting(
        0.1, doc="alpha for the conformity loss; 0 removes conformity modelling (Fig. 7)",
        minimum=0, source="authors' code: pop_weight")  # fmt: skip
    discrepancy_weight: float = setting(0.01, doc="beta, the discrepancy weight", minimum=0,
                                        source="DICE §4.1 beta; authors' code: dis_pen")  # fmt: skip
    discrepancy: Literal["dcor", "l1", "l2"] = setting(
        "dcor", doc='discrepancy loss (dcor minimised; l1/l2 maximised, "L1-inv"/"L2-inv")',
        source="DICE §4.4.4; authors' code: dis_loss")  # fmt: skip
    discrepancy_rows: int | None = setting(
        None, doc="compute the discrepancy on the first this-many positives of each (shuffled) "
        "batch only; null = all rows of the batch (exact, the authors' semantics)",
        schema={"type": ["integer", "null"], "minimum": 1})  # fmt: skip
    margin_up: float = setting(40.0, doc="PNSM initial absolute popularity margin m_up",
                               minimum=0, source="authors' code: margin")  # fmt: skip
    pool: int = setting(40, doc="PNSM minimum candidate-pool size", minimum=1,
                        source="authors' code: pool")  # fmt: skip
    decay: float = setting(0.9, doc="curriculum factor applied to alpha and m_up after every "
                           "epoch", exclusiveMinimum=0, maximum=1,
                           source="DICE §3.3; authors' code: margin_decay, loss_decay")  # fmt: skip
    curriculum: bool = setting(True, doc='decay alpha and m_up after every epoch (false = '
                               '"normal learning", Fig. 8a)', source="authors' code: adaptive")  # fmt: skip
    negatives: Literal["pnsm", "random"] = setting(
        "pnsm", doc="negative sampler (pnsm, or random with the mask from popularity, Table 3)",
        source="DICE §3.4")  # fmt: skip


class DICE(Recommender):
    """Interest + conformity backbones trained with the four DICE tasks."""

    scorings: tuple[Scoring, ...] = ("full", "interest", "conformity")

    def __init__(self, interest: nn.Module, conformity: nn.Module, *, config: DICESettings):
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
        #: the official discrepancy over the batch's 128-row chunks (dCor costs O(n²) in the
        #: batch's unique entities; measured in benchmarks/ as the ``dis128`` variant).
        self.discrepancy_rows: int | None = config.discrepancy_rows
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
        # The epoch's trained (positive, negative) pairs and those whose mask selects the
        # interest loss (O2), for `epoch_state`; plain attributes, reset by `end_epoch`.
        self._pairs, self._interest_pairs = 0, 0

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        if batch.mask is None:
            raise ValueError("DICE needs the O1/O2 mask from its negative sampler")
        u_int_all, i_int_all = self.interest()
        u_con_all, i_con_all = self.conformity()
        # The batch's unique users and items (the discrepancy's entities,
        # docs/authors-code.md#dice). Each table is gathered once on them; the (positive,
        # negative) pairs index those rows, so every table gets one dense-gradient scatter per
        # step instead of three.
        users, user_row = torch.unique(batch.users, return_inverse=True)  # (U_b,), (B,)
        items, item_row = torch.unique(
            torch.cat([batch.pos.unsqueeze(1), batch.neg], dim=1), return_inverse=True
        )  # (I_b,), (B, 1+K): column 0 is the positive
        u_int, i_int = u_int_all[users], i_int_all[items]
        u_con, i_con = u_con_all[users], i_con_all[items]
        d_int = _pair_differences(u_int[user_row], i_int[item_row])  # (B, K)
        d_con = _pair_differences(u_con[user_row], i_con[item_row])  # (B, K)
        mask = batch.mask  # (B, K), True ⇔ O2 (negative more popular)
        if self.training:  # counted as a device tensor: no host sync per step
            self._pairs += mask.numel()
            self._interest_pairs = self._interest_pairs + mask.sum()
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

    def sampler_options(self) -> dict[str, float]:
        """PNSM's margin in force for the coming epoch and its pool (DICE §3.4)."""
        return {"margin_up": float(self.margin_up), "pool": self.pool}

    def epoch_state(self) -> dict[str, float]:
        """α and m_up in force this epoch, and `interest_share`: the share of the epoch's trained
        pairs whose mask selects the interest loss (O2; NaN before any step)."""
        pairs = self._pairs
        return {
            "alpha_interest": float(self.alpha_interest),
            "alpha_conformity": float(self.alpha_conformity),
            "margin_up": float(self.margin_up),
            "interest_share": float(self._interest_pairs) / pairs if pairs else float("nan"),
        }

    def end_epoch(self) -> dict[str, float]:
        # DICE §3.3 and the authors' code (docs/authors-code.md#dice): α and m_up × 0.9 per
        # epoch, no floor
        if self.curriculum:
            self.alpha_interest.mul_(self.decay)
            self.alpha_conformity.mul_(self.decay)
            self.margin_up.mul_(self.decay)
        self._pairs, self._interest_pairs = 0, 0
        return self.epoch_state()


def _pair_differences(user: Tensor, items: Tensor) -> Tensor:
    """s(u, i) − s(u, j) for every (positive, negative) entry: (B, K).

    Args:
        user: (B, d) the row's user embedding.
        items: (B, 1+K, d) the positive's embedding, then its K negatives'.
    """
    scores = (items * user.unsqueeze(1)).sum(-1)  # (B, 1+K); cheaper than bmm at these sizes
    return scores[:, :1] - scores[:, 1:]


def build(settings: DICESettings, context) -> DICE:
    graph = context.train_graph()
    return DICE(context.backbone(graph), context.backbone(graph), config=settings)


METHOD = Method(family="dice", settings=DICESettings, build=build, lr_key="lr_dice",
                dual_table=True)  # fmt: skip


def curriculum_variants(alpha: float) -> dict[str, dict]:
    """The Fig. 8a method keys of one initial α: DICE with and without the curriculum
    (``dice-a<α>-curriculum``, ``dice-a<α>-normal``), as `method_settings` entries."""
    return {f"dice-a{alpha:g}-{mode}": {"objective": "dice", "interest_weight": alpha,
                                        "conformity_weight": alpha, "curriculum": on}
            for mode, on in (("curriculum", True), ("normal", False))}  # fmt: skip
