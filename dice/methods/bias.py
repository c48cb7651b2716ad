"""Scalar-bias baselines of DICE §4.2.2: BPR with learned user and/or item scalars added to the
score (`bias-u`, `bias-i`, `bias-ui`).

Note: under the pairwise BPR loss a user bias cancels from every difference s(u,i) − s(u,j), so it
receives no gradient and `bias-u` trains exactly like `none`; the paper does not say which loss its
BIAS-U used. The suite keeps the literal construction and reports the consequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dice.methods.bpr import BPRRecommender
from dice.methods.spec import Method
from dice.settings import setting


@dataclass(frozen=True)
class BiasSettings:
    biases: Literal["user", "item", "user_item"] = setting(
        "user_item", doc="which scalar biases are added to the score", source="DICE §4.2.2"
    )


def build(settings: BiasSettings, context) -> BPRRecommender:
    return BPRRecommender(
        context.backbone(context.train_graph()),
        user_bias=settings.biases in ("user", "user_item"),
        item_bias=settings.biases in ("item", "user_item"),
    )


METHOD = Method(family="bias", settings=BiasSettings, build=build)
