"""Resolved model settings → the untrained model, through the registry (`dice.methods`).

`build_model` looks the run's registry entry up and calls its method's ``build`` with a
`BuildContext`: the split, the backbone factory and the generator, plus the guarded inputs a
method may need (the LightGCN training graph, training popularity). It knows no method by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from dice.config import ModelConfig
from dice.data.interactions import Interactions, Split
from dice.guards import check_model, check_popularity, check_split, training_popularity
from dice.models.backbones import graph_adjacency, make_backbone
from dice.models.base import Recommender


@dataclass(frozen=True)
class BuildContext:
    """What a method's ``build`` gets: the split, the backbone factory and the generator."""

    split: Split
    config: ModelConfig
    generator: torch.Generator

    @property
    def backbone_name(self) -> str:
        return self.config.backbone

    def backbone(self, graph: Interactions | Tensor | None) -> nn.Module:
        """A fresh backbone of the run's kind and size (parameters drawn from the generator);
        `graph` (training edges or a prebuilt adjacency) is used by LightGCN only."""
        return make_backbone(self.config.backbone, self.config.backbone_settings,
                             dim=self.config.dim, n_users=self.split.n_users,
                             n_items=self.split.n_items, graph=graph, generator=self.generator)  # fmt: skip

    def train_graph(self) -> Tensor | None:
        """The normalised adjacency of all training edges for LightGCN (None for MF)."""
        if self.config.backbone != "lightgcn":
            return None
        return graph_adjacency(self.split.train, self.config.backbone_settings)

    def popularity(self, parts: Sequence[str], *, use: str | None = None) -> np.ndarray:
        """Training item counts over `parts`, checked against a recount when `use` is named."""
        counts = training_popularity(self.split, parts=parts)
        if use is not None:
            check_popularity(counts, self.split, parts=parts, use=use)
        return counts


def build_model(config: ModelConfig, split: Split, *, generator: torch.Generator) -> Recommender:
    """The untrained model of `config` for `split` (parameters drawn from `generator`).

    Popularity inputs are training-only: ItemPop and PNSM use normal-train counts, IPS uses
    normal + intervened-train counts (docs/protocol.md). The leakage guards of `dice.guards`
    check the split, every LightGCN graph and every popularity input.
    """
    check_split(split)
    context = BuildContext(split, config, generator)
    model = config.method.build(config.settings, context)
    check_model(model, split)
    return model
