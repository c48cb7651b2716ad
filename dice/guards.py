"""Leakage guards: assertions that validation and test data never reach training.

Each guard is called where the data is used and raises `LeakageError` (a one-line `DiceError`):

* `check_split` — no validation or test interaction is also a training interaction (called by
  `dice.registry.build_model`, hence by the train and evaluate stages, and by ``import-split``);
* `check_graph` — a LightGCN adjacency holds training edges only (the authors build the graph
  from the training COO, docs/authors-code.md#lightgcn); `check_model` applies it to every
  graph inside a model;
* `check_popularity` — the popularity a sampler, ItemPop or IPS uses is the item count of the
  training parts it should come from: normal train for PNSM and ItemPop, normal + intervened
  train for IPS (docs/authors-code.md#files). `training_popularity` is the one function that
  computes those counts; `check_popularity` recounts independently.

`check_test_coverage` is a bad-input guard, not a leakage one: a split whose test set is empty
for most users gives averages over a handful of users.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from dice.data.interactions import TRAIN_PARTS, Interactions, Split
from dice.errors import DiceError

EVAL_PARTS: tuple[str, ...] = ("valid", "test")
MIN_TEST_COVERAGE = 0.5  # below this share of users with a test item, a split is refused


class LeakageError(DiceError):
    """Evaluation data found where only training data may be."""


def _keys(split: Split, parts: Sequence[str]) -> NDArray[np.int64]:
    """Sorted unique ``user * n_items + item`` keys of the named parts."""
    keys = [split.part(name).keys() for name in parts]
    return np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.int64)


def _contains(sorted_keys: NDArray[np.int64], keys: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Membership of each of `keys` in the sorted unique array `sorted_keys`."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def check_split(split: Split) -> None:
    """Raise `LeakageError` if a validation or test pair is also a training pair."""
    train = _keys(split, TRAIN_PARTS)
    for name in EVAL_PARTS:
        leaked = int(_contains(train, np.unique(split.part(name).keys())).sum())
        if leaked:
            raise LeakageError(
                f"leakage: {leaked} {name} interactions are also training interactions; "
                "the split is corrupt, rerun the split stage"
            )


def graph_edges(adjacency: torch.Tensor, *, n_users: int, n_items: int) -> NDArray[np.int64]:
    """The user–item keys of the non-zero entries of a (U+I)×(U+I) adjacency, both blocks."""
    adj = adjacency.detach().cpu()
    if adj.layout == torch.strided:
        index = adj.nonzero().T
    else:
        adj = adj.to_sparse_coo().coalesce()
        index = adj.indices()[:, adj.values() != 0]
    row, col = index.numpy().astype(np.int64)
    user_item = (row < n_users) & (col >= n_users)
    item_user = (row >= n_users) & (col < n_users)
    users = np.concatenate([row[user_item], col[item_user]])
    items = np.concatenate([col[user_item], row[item_user]]) - n_users
    return users * np.int64(n_items) + items


def check_graph(adjacency: torch.Tensor, split: Split, *, what: str = "LightGCN graph") -> None:
    """Raise `LeakageError` unless every user–item edge of `adjacency` is a training pair."""
    edges = graph_edges(adjacency, n_users=split.n_users, n_items=split.n_items)
    outside = ~_contains(_keys(split, TRAIN_PARTS), edges)
    if not outside.any():
        return
    evaluation = int(_contains(_keys(split, EVAL_PARTS), edges[outside]).sum())
    raise LeakageError(
        f"leakage: the {what} holds {int(outside.sum())} user-item edges that are not training "
        f"interactions ({evaluation} of them validation or test); build it from training edges only"
    )


def training_popularity(split: Split, *, parts: Sequence[str]) -> NDArray[np.int64]:
    """Records per item over the named training parts: the only popularity a method may use."""
    unknown = set(parts) - set(TRAIN_PARTS)
    if unknown:
        raise LeakageError(f"leakage: popularity asked for non-training parts {sorted(unknown)}")
    counts = np.zeros(split.n_items, dtype=np.int64)
    for name in parts:
        counts += split.part(name).item_counts()
    return counts


def _count(parts: list[Interactions], n_items: int) -> NDArray[np.int64]:
    items = [p.item for p in parts]
    return np.bincount(np.concatenate(items), minlength=n_items).astype(np.int64)


def check_popularity(
    popularity: NDArray | torch.Tensor, split: Split, *, parts: Sequence[str], use: str
) -> None:
    """Raise `LeakageError` unless `popularity` equals the item counts of the training `parts`."""
    values = np.asarray(popularity.detach().cpu() if torch.is_tensor(popularity) else popularity)
    expected = _count([split.part(name) for name in parts], split.n_items)
    if values.shape == expected.shape and np.array_equal(values, expected):
        return
    with_eval = _count([split.part(name) for name in (*parts, *EVAL_PARTS)], split.n_items)
    if values.shape == expected.shape and np.array_equal(values, with_eval):
        raise LeakageError(
            f"leakage: the popularity used by {use} counts validation and test interactions; "
            f"it must count {' + '.join(parts)} only"
        )
    raise LeakageError(
        f"leakage: the popularity used by {use} is not the item count of {' + '.join(parts)}"
    )


def check_model(model: nn.Module, split: Split) -> None:
    """Apply the graph and popularity guards to everything a built model holds.

    Every submodule with an ``adjacency`` tensor (LightGCN) must hold training edges only;
    a ``popularity`` buffer (ItemPop) must be the normal-train item count
    (docs/authors-code.md#itempop).
    """
    for name, module in model.named_modules():
        adjacency = getattr(module, "adjacency", None)
        if isinstance(adjacency, torch.Tensor):
            check_graph(adjacency, split, what=f"LightGCN graph of {name or 'the model'}")
        popularity = getattr(module, "popularity", None)
        if isinstance(popularity, torch.Tensor):
            check_popularity(popularity, split, parts=("train_normal",), use="ItemPop")


def check_test_coverage(split: Split, *, min_share: float = MIN_TEST_COVERAGE) -> None:
    """Raise `DiceError` if fewer than `min_share` of the split's users have a test item."""
    users = np.unique(np.concatenate([split.part(n).user for n in (*TRAIN_PARTS, *EVAL_PARTS)]))
    tested = np.unique(split.test.user)
    if len(users) == 0 or len(tested) >= min_share * len(users):
        return
    empty = len(users) - len(tested)
    raise DiceError(
        f"the test set is empty for {empty} of {len(users)} users ({empty / len(users):.0%}); "
        "metrics would rest on few users: use more data per user or a larger test_share"
    )
