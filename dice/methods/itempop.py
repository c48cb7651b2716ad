"""ItemPop: the most popular items by normal-train counts, the same list for every user
(docs/authors-code.md#itempop; used for the IOU analysis of DICE §4.3.1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dice.methods.spec import Method
from dice.models.base import Batch, Recommender, Scorer, Scoring


class ItemPop(Recommender):
    """Scores every item by its popularity; nothing to train."""

    trainable = False

    def __init__(self, popularity: Tensor):
        super().__init__()
        self.register_buffer("popularity", popularity.to(torch.float32))

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        raise RuntimeError("ItemPop is not trained")

    def scorer(self, mode: Scoring = "full") -> Scorer:
        if mode != "full":
            raise ValueError(f"ItemPop has no {mode!r} scoring")
        popularity = self.popularity

        def score(users: Tensor) -> Tensor:
            return popularity.expand(len(users), -1)  # (B, I)

        return score


@dataclass(frozen=True)
class ItemPopSettings:
    """ItemPop has no settings."""


def build(settings: ItemPopSettings, context) -> ItemPop:
    return ItemPop(torch.from_numpy(context.popularity(("train_normal",))))


METHOD = Method(family="itempop", settings=ItemPopSettings, build=build)
