"""One epoch of training samples: every training positive once, with its negatives.

The positives are the normal and the intervened training records (the authors' "blend",
docs/authors-code.md#training-set-and-batches). Negatives are drawn for the whole epoch at once
by the vectorised samplers of `dice.sampling`; the trainer then shuffles and cuts them into
batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray

from dice.data.interactions import Interactions, Split
from dice.guards import check_popularity, training_popularity
from dice.models.base import Batch, NegativeKind
from dice.sampling import (
    ExclusionIndex,
    pnsm_fallback_rows,
    pnsm_negatives,
    random_negatives_with_mask,
    uniform_negatives,
)


@dataclass
class EpochSamples:
    """Parallel arrays over the epoch's training positives."""

    users: NDArray[np.int64]
    pos: NDArray[np.int64]
    neg: NDArray[np.int64]  # (N, K)
    intervened: NDArray[np.bool_]
    mask: NDArray[np.bool_] | None  # (N, K), True ⇔ negative more popular (O2)
    fallback_rows: int = 0

    def __len__(self) -> int:
        return len(self.users)

    def batch(self, index: NDArray[np.int64]) -> Batch:
        return Batch(
            users=torch.from_numpy(self.users[index]),
            pos=torch.from_numpy(self.pos[index]),
            neg=torch.from_numpy(self.neg[index]),
            intervened=torch.from_numpy(self.intervened[index]),
            mask=None if self.mask is None else torch.from_numpy(self.mask[index]),
        )


class EpochSampler:
    """Draws an epoch of negatives for a split's training positives.

    Args:
        split: the split; its normal + intervened training parts are the positives.
        kind: uniform (BPR baselines), pnsm or random (DICE, with the O1/O2 mask).
        k: negatives per positive.
        exclusion: exclude all of the user's training items (default), or only those in the
            positive's own part, as the authors' samplers do
            (docs/authors-code.md#negative-sampling).
    """

    def __init__(
        self,
        split: Split,
        *,
        kind: NegativeKind,
        k: int,
        exclusion: Literal["all_train", "same_part"] = "all_train",
    ):
        self.kind, self.k, self.n_items = kind, k, split.n_items
        # PNSM popularity: normal-train counts only, even for intervened positives
        # (docs/authors-code.md#pnsm).
        self.popularity = training_popularity(split, parts=("train_normal",))
        check_popularity(self.popularity, split, parts=("train_normal",), use="negative sampling")
        parts = [split.train_normal, split.train_intervened]
        if exclusion == "all_train":
            index = ExclusionIndex.from_interactions(split.train, popularity=self.popularity)
            self.parts = [(p, index) for p in parts]
        else:
            self.parts = [
                (p, ExclusionIndex.from_interactions(p, popularity=self.popularity)) for p in parts
            ]

    def sample(
        self, *, rng: np.random.Generator, margin_up: float = 0.0, pool: int = 40
    ) -> EpochSamples:
        drawn = [self._sample_part(p, idx, rng=rng, margin_up=margin_up, pool=pool)
                 for p, idx in self.parts if len(p)]  # fmt: skip
        users = np.concatenate([p.user for p, _ in self.parts])
        pos = np.concatenate([p.item for p, _ in self.parts])
        flags = [np.full(len(p), i == 1) for i, (p, _) in enumerate(self.parts)]
        neg = np.concatenate([d[0] for d in drawn])
        mask = None if self.kind == "uniform" else np.concatenate([d[1] for d in drawn])
        fallback = sum(d[2] for d in drawn)
        return EpochSamples(users, pos, neg, np.concatenate(flags), mask, fallback)

    def _sample_part(
        self, part: Interactions, index: ExclusionIndex, *, rng, margin_up: float, pool: int
    ) -> tuple[NDArray, NDArray | None, int]:
        if self.kind == "uniform":
            neg = uniform_negatives(
                part.user, k=self.k, n_items=self.n_items, exclude=index, rng=rng
            )
            return neg, None, 0
        if self.kind == "random":
            neg, mask = random_negatives_with_mask(
                part.user, part.item, k=self.k, popularity=self.popularity, exclude=index, rng=rng
            )
            return neg, mask, 0
        options = dict(
            k=self.k, popularity=self.popularity, margin_up=margin_up, pool=pool, exclude=index
        )
        neg, mask = pnsm_negatives(part.user, part.item, **options, rng=rng)
        fallback = int(pnsm_fallback_rows(part.user, part.item, **options).sum())
        return neg, mask, fallback
