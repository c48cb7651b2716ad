"""Backbone × objective → model. The one place that knows every method.

It imports `baselines` lazily so that `baselines` (which builds on `dice`) and `dice` never
import each other at module load (STYLE.md layout notes).
"""

from __future__ import annotations

import torch

from dice.config import ModelConfig
from dice.data.interactions import Split
from dice.errors import DiceError
from dice.guards import check_model, check_popularity, check_split, training_popularity
from dice.models.backbones import graph_adjacency, make_backbone
from dice.models.base import Recommender


def build_model(config: ModelConfig, split: Split, *, generator: torch.Generator) -> Recommender:
    """The untrained model of `config` for `split` (parameters drawn from `generator`).

    Popularity inputs are training-only: ItemPop and PNSM use normal-train counts, IPS uses
    normal + intervened-train counts (official-code §1.4, §5 item 3). The leakage guards of
    `dice.guards` check the split, every LightGCN graph and every popularity input.
    """
    check_split(split)
    model = _build(config, split, generator=generator)
    check_model(model, split)
    return model


def _build(config: ModelConfig, split: Split, *, generator: torch.Generator) -> Recommender:
    from baselines.bpr import BPRRecommender
    from baselines.cause import CausE, MFTreatmentSide
    from baselines.ips import IPS_VARIANTS, ips_weights
    from baselines.itempop import ItemPop

    objective, n_users, n_items = config.objective, split.n_users, split.n_items

    def backbone(graph):
        return make_backbone(
            config, n_users=n_users, n_items=n_items, graph=graph, generator=generator
        )

    if objective == "itempop":
        return ItemPop(torch.from_numpy(training_popularity(split, parts=("train_normal",))))
    if objective == "cause":
        if len(split.train_intervened) == 0:
            raise DiceError(
                "CausE needs intervened training data, but this split has none "
                "(intervened_train_share is 0); drop cause from this split's methods"
            )
        if config.backbone == "mf":
            control = backbone(None)
            treatment = MFTreatmentSide(control, generator=generator)
        else:
            control = backbone(split.train_normal)
            treatment = backbone(split.train_intervened)
        return CausE(control, treatment, discrepancy_weight=config.discrepancy_weight,
                     loss=config.cause_loss, shared_users=config.backbone == "mf")  # fmt: skip
    graph = graph_adjacency(split.train, config) if config.backbone == "lightgcn" else None
    if objective == "dice":
        from dice.models.dice import DICE

        return DICE(backbone(graph), backbone(graph), config=config)
    weight = None
    if objective in IPS_VARIANTS:
        counts = training_popularity(split, parts=("train_normal", "train_intervened"))
        check_popularity(counts, split, parts=("train_normal", "train_intervened"), use="IPS")
        weights = ips_weights(counts, variant=objective, smoothing=config.ips_smoothing)
        weight = torch.from_numpy(weights)
    return BPRRecommender(
        backbone(graph),
        item_weight=weight,
        user_bias=objective in ("bias-u", "bias-ui"),
        item_bias=objective in ("bias-i", "bias-ui"),
    )
