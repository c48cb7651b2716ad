"""Backbone construction: MF or LightGCN over a given training graph."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dice.config import ModelConfig
from dice.data.interactions import Interactions
from dice.models.lightgcn import LightGCNBackbone, normalized_adjacency
from dice.models.mf import MFBackbone


def make_backbone(
    config: ModelConfig,
    *,
    n_users: int,
    n_items: int,
    graph: Interactions | Tensor | None,
    generator: torch.Generator,
) -> nn.Module:
    """An MF or LightGCN backbone of `config.dim`; `graph` (training edges or a prebuilt
    normalised adjacency) is needed by LightGCN only."""
    if config.backbone == "mf":
        return MFBackbone(n_users, n_items, config.dim, generator=generator)
    if graph is None:
        raise ValueError("LightGCN needs its training graph")
    adjacency = graph if isinstance(graph, Tensor) else graph_adjacency(graph, config)
    return LightGCNBackbone(
        n_users,
        n_items,
        config.dim,
        adjacency=adjacency,
        layers=config.lightgcn_layers,
        dropout=config.lightgcn_dropout,
        generator=generator,
    )


def graph_adjacency(train: Interactions, config: ModelConfig) -> Tensor:
    return normalized_adjacency(train, self_loops=config.lightgcn_self_loops)


def set_dropout_generator(model: nn.Module, generator: torch.Generator) -> None:
    """Point every LightGCN backbone of `model` at the trainer's dropout generator."""
    for module in model.modules():
        if isinstance(module, LightGCNBackbone):
            module.generator = generator
