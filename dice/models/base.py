"""The one interface every method implements, and the batch it trains on.

A method's model is an `nn.Module` with ``loss(batch) -> dict[str, Tensor]`` (named terms plus
``"loss"``, the total that is minimised) and ``scorer(mode) -> Callable[[users], scores]`` that
returns a function scoring all items for a batch of users. Everything else the trainer and the
run stages need is a declared member of `Recommender` with a default (`trainable`, `negatives`,
`sampler_options`, `scorings`, `embeddings`, the epoch hooks): they see only this protocol, so
Table 2 is a loop over (backbone, method) and no stage knows a method by name (docs/methods.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

Scoring = Literal["full", "interest", "conformity"]
NegativeKind = Literal["uniform", "pnsm", "random"]
Scorer = Callable[[Tensor], Tensor]


@dataclass
class Batch:
    """One training batch: B positives with K negatives each.

    Attributes:
        users: (B,) user ids.
        pos: (B,) positive item ids.
        neg: (B, K) negative item ids.
        intervened: (B,) True where the positive comes from the intervened-train part.
        mask: (B, K) True where the negative is more popular than the positive (the paper's
            O2, docs/authors-code.md#pnsm); None for samplers that do not compute it.
    """

    users: Tensor
    pos: Tensor
    neg: Tensor
    intervened: Tensor
    mask: Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.users.to(device),
            self.pos.to(device),
            self.neg.to(device),
            self.intervened.to(device),
            None if self.mask is None else self.mask.to(device),
        )


class Recommender(nn.Module):
    """Base class of every trainable method (see module docstring)."""

    #: False for a method with nothing to fit (ItemPop): the train stage skips the trainer.
    trainable: bool = True
    #: Which negative sampler the trainer must use for this method.
    negatives: NegativeKind = "uniform"
    #: Scoring modes this method supports at evaluation time (each writes its own top-k).
    scorings: tuple[Scoring, ...] = ("full",)

    def sampler_options(self) -> dict[str, float]:
        """Keyword options of the coming epoch's negative sampler (`EpochSampler.sample`),
        e.g. DICE's PNSM margin and pool; none for uniform negatives."""
        return {}

    def embeddings(self) -> dict[str, Tensor]:
        """Named embedding tables the evaluate stage saves (embeddings.npz); none by default."""
        return {}

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        raise NotImplementedError

    def scorer(self, mode: Scoring = "full") -> Scorer:
        raise NotImplementedError

    def end_epoch(self) -> dict[str, float]:
        """Hook after each epoch (DICE's curriculum); returns values to log."""
        return {}

    def epoch_state(self) -> dict[str, float]:
        """Values logged in the epoch's row of history.csv. The trainer reads them after the
        epoch's steps and before `end_epoch`: the schedule still holds the epoch's values."""
        return {}


def inner_scorer(user_emb: Tensor, item_emb: Tensor) -> Scorer:
    """Scores ⟨u, i⟩ of a batch of users against every item, from fixed embeddings."""
    item_t = item_emb.t().contiguous()  # (d, I)

    def score(users: Tensor) -> Tensor:
        return user_emb[users] @ item_t  # (B, I)

    return score


def uniform_init(rows: int, dim: int, *, generator: torch.Generator) -> nn.Parameter:
    """An embedding table initialised U(-1/sqrt(d), 1/sqrt(d)) as in the official code (§2.1)."""
    bound = dim**-0.5
    table = torch.rand(rows, dim, generator=generator) * (2 * bound) - bound
    return nn.Parameter(table)
