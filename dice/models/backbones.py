"""Backbone construction: MF or LightGCN over a given training graph."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dice.data.interactions import Interactions
from dice.models.lightgcn import LightGCNBackbone, normalized_adjacency
from dice.models.mf import MFBackbone
from dice.settings import BackboneSettings


def make_backbone(
    name: str,
    config: BackboneSettings,
    *,
    dim: int,
    n_users: int,
    n_items: int,
    graph: Interactions | Tensor | None,
    generator: torch.Generator,
) -> nn.Module:
    """An MF (`name` "mf") or LightGCN backbone of size `dim`; `graph` (training edges or a
    prebuilt normalised adjacency) is needed by LightGCN only."""
    if name == "mf":
        return MFBackbone(n_users, n_items, dim, generator=generator)
    if graph is None:
        raise ValueError("LightGCN needs its training graph")
    adjacency = graph if isinstance(graph, Tensor) else graph_adjacency(graph, config)
    return LightGCNBackbone(
        n_users,
        n_items,
        dim,
        adjacency=adjacency,
        layers=config.lightgcn_layers,
        dropout=config.lightgcn_dropout,
        generator=generator,
    )


def graph_adjacency(train: Interactions, config: BackboneSettings) -> Tensor:
    return normalized_adjacency(train, self_loops=config.lightgcn_self_loops)


def set_dropout_generator(model: nn.Module, generator: torch.Generator) -> None:
    """Point every LightGCN backbone of `model` at the trainer's dropout generator."""
    for module in model.modules():
        if isinstance(module, LightGCNBackbone):
            module.generator = generator
