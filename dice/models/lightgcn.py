"""LightGCN backbone (He et al., SIGIR'20) as the authors' code runs it.

What that code does: docs/authors-code.md#lightgcn.

The symmetric-normalised adjacency D^-1/2 (A + I) D^-1/2 of the bipartite training graph is built
once per run from training edges only. Each of the `layers` parameter-free propagation steps is
followed by dropout (training only); the output is the mean of the input and every layer. The
self-loops and the dropout are not in the LightGCN or DICE papers; both are switches, on by
default for fidelity to the official code.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from dice.data.interactions import Interactions
from dice.models.base import uniform_init


def normalized_adjacency(train: Interactions, *, self_loops: bool = True) -> Tensor:
    """The (U+I)×(U+I) sparse (COO, coalesced) matrix D^-1/2 (A [+ I]) D^-1/2 of the training graph.

    Item node j has index n_users + j. Duplicate edges count once; degrees include the self-loop
    and are clamped to >= 1 (docs/authors-code.md#lightgcn).
    """
    n_nodes = train.n_users + train.n_items
    keys = np.unique(train.keys())
    users, items = keys // train.n_items, keys % train.n_items + train.n_users
    rows = [users, items]
    cols = [items, users]
    if self_loops:
        rows.append(np.arange(n_nodes))
        cols.append(np.arange(n_nodes))
    row = torch.from_numpy(np.concatenate(rows))
    col = torch.from_numpy(np.concatenate(cols))
    degree = torch.bincount(row, minlength=n_nodes).clamp(min=1).to(torch.float32)
    inv_sqrt = degree.pow(-0.5)
    values = inv_sqrt[row] * inv_sqrt[col]
    adj = torch.sparse_coo_tensor(
        torch.stack([row, col]), values, (n_nodes, n_nodes), check_invariants=False
    )
    return adj.coalesce()  # COO: faster than CSR for (A @ h) and its backward on CPU


def dropout(h: Tensor, p: float, *, generator: torch.Generator | None) -> Tensor:
    """Inverted dropout drawn from an explicit generator (never the global RNG)."""
    keep = torch.rand(h.shape, generator=generator, device=h.device) >= p
    return h * keep / (1.0 - p)


class LightGCNBackbone(nn.Module):
    """One (U+I)×d table propagated over a fixed normalised adjacency."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        *,
        adjacency: Tensor,
        layers: int = 2,
        dropout: float = 0.2,
        generator: torch.Generator,
    ):
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        self.layers, self.dropout = layers, dropout
        self.embedding = uniform_init(n_users + n_items, dim, generator=generator)
        self.register_buffer("adjacency", adjacency, persistent=False)
        #: Generator for dropout masks; the trainer sets it (and saves its state).
        self.generator: torch.Generator | None = None

    def forward(self) -> tuple[Tensor, Tensor]:
        h = self.embedding  # (U+I, d)
        layers = [h]
        for _ in range(self.layers):
            h = self.adjacency @ h  # (U+I, d)
            if self.training and self.dropout > 0:
                h = dropout(h, self.dropout, generator=self.generator)
            layers.append(h)
        out = torch.stack(layers).mean(dim=0)  # (U+I, d)
        return out[: self.n_users], out[self.n_users :]
