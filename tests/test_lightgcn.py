"""Sparse LightGCN propagation against a dense reference written from the definition."""

from __future__ import annotations

import numpy as np
import torch

from dice.data.interactions import Interactions
from dice.models.lightgcn import LightGCNBackbone, normalized_adjacency


def dense_reference(train: Interactions, *, self_loops: bool) -> torch.Tensor:
    """D^-1/2 (A + I) D^-1/2 built entry by entry from the bipartite edge list."""
    n = train.n_users + train.n_items
    a = np.zeros((n, n))
    for u, i in zip(train.user, train.item, strict=True):
        a[u, train.n_users + i] = a[train.n_users + i, u] = 1.0
    if self_loops:
        a += np.eye(n)
    degree = np.maximum(a.sum(1), 1.0)
    return torch.tensor(a / np.sqrt(np.outer(degree, degree)), dtype=torch.float32)


GRAPH = Interactions(
    np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 0, 0]), 3, 3
)  # repeat + isolated item 2


def test_adjacency_matches_dense_reference_with_and_without_self_loops():
    for loops in (True, False):
        sparse = normalized_adjacency(GRAPH, self_loops=loops).to_dense()
        torch.testing.assert_close(sparse, dense_reference(GRAPH, self_loops=loops))


def test_adjacency_is_symmetric_and_isolated_node_is_safe():
    adj = normalized_adjacency(GRAPH, self_loops=False).to_dense()
    torch.testing.assert_close(adj, adj.T)
    assert torch.all(adj[3 + 2] == 0)  # item 2 has no edge and no self-loop: a zero row, no NaN


def test_propagation_equals_dense_layer_mean():
    adj = normalized_adjacency(GRAPH)
    model = LightGCNBackbone(3, 3, 4, adjacency=adj, layers=2, dropout=0.0,
                             generator=torch.Generator().manual_seed(0))  # fmt: skip
    users, items = model()
    dense = dense_reference(GRAPH, self_loops=True)
    e0 = model.embedding.detach()
    expected = (e0 + dense @ e0 + dense @ (dense @ e0)) / 3
    torch.testing.assert_close(torch.cat([users, items]).detach(), expected)


def test_dropout_only_in_training_and_seeded():
    adj = normalized_adjacency(GRAPH)
    model = LightGCNBackbone(3, 3, 8, adjacency=adj, layers=2, dropout=0.5,
                             generator=torch.Generator().manual_seed(0))  # fmt: skip
    model.eval()
    first = torch.cat(model()).detach()
    torch.testing.assert_close(torch.cat(model()).detach(), first)  # deterministic at inference
    model.train()
    model.generator = torch.Generator().manual_seed(5)
    a = torch.cat(model()).detach()
    model.generator = torch.Generator().manual_seed(5)
    b = torch.cat(model()).detach()
    torch.testing.assert_close(a, b)  # same generator state, same dropout mask
    assert not torch.allclose(a, first)
