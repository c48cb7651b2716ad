"""Top-K ranking metrics, overlap with ItemPop and popularity bias of top-K lists (pure numpy).

Accuracy metrics follow the authors' code (docs/authors-code.md#metrics; the suite's protocol:
docs/protocol.md#evaluation): binary relevance, Recall@K = hits / |T_u| (all held-out items, not
min(K, |T_u|)), HR@K = any hit, NDCG@K with log2 discounts and the ideal DCG over min(K, |T_u|)
ranks. Two averages are offered: over users with at least one held-out item (standard) and over
all users (the official divisor).
IOU@K with ItemPop is the paper's Fig. 5a (official `tester.py:compute_iou`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Divisor = Literal["users_with_truth", "all_users"]
DIVISORS: tuple[Divisor, ...] = ("users_with_truth", "all_users")


def _discounts(k: int) -> NDArray[np.float64]:
    """``1 / log2(r + 2)`` for 0-based ranks r < k."""
    return 1.0 / np.log2(np.arange(k, dtype=np.float64) + 2.0)


def rank_metrics(
    hits: NDArray[np.bool_],
    n_relevant: NDArray[np.integer],
    *,
    ks: Sequence[int],
) -> dict[str, NDArray[np.float64]]:
    """Per-user Recall@K, HR@K and NDCG@K from a hit matrix.

    Args:
        hits: (U, K) bool, ``hits[u, r]`` = the item at 0-based rank r of user u is relevant.
        n_relevant: (U,) number of relevant (held-out) items of each user.
        ks: cut-offs, each at most K (the config's `evaluation.ks`).

    Returns:
        ``{"recall@k", "hr@k", "ndcg@k"}`` for each k, each a (U,) float64 vector. Users with
        ``n_relevant == 0`` get 0 everywhere; `average` decides whether they count.

    Math:
        recall = sum_{r<k} h_r / n;  hr = [sum_{r<k} h_r > 0];
        ndcg = sum_{r<k} h_r / log2(r+2) / sum_{r<min(k, n)} 1 / log2(r+2).
    """
    hits = np.asarray(hits, dtype=bool)
    n_rel = np.asarray(n_relevant, dtype=np.int64)
    if hits.ndim != 2 or n_rel.shape != (hits.shape[0],):
        raise ValueError(
            f"hits must be (U, K) and n_relevant (U,); got {hits.shape}, {n_rel.shape}"
        )
    if max(ks) > hits.shape[1] or min(ks) < 1:
        raise ValueError(f"every k must lie in [1, {hits.shape[1]}], got {tuple(ks)}")
    if np.any(hits.sum(axis=1) > n_rel):
        raise ValueError("a user has more hits than relevant items")
    has_truth = n_rel > 0
    safe_n = np.maximum(n_rel, 1)
    out: dict[str, NDArray[np.float64]] = {}
    for k in ks:
        disc = _discounts(k)
        top = hits[:, :k]
        n_hits = top.sum(axis=1)
        ideal = np.concatenate([[1.0], np.cumsum(disc)])[np.minimum(k, n_rel)]  # idcg; 1 if n=0
        out[f"recall@{k}"] = np.where(has_truth, n_hits / safe_n, 0.0)
        out[f"hr@{k}"] = (n_hits > 0).astype(np.float64)
        out[f"ndcg@{k}"] = np.where(has_truth, top @ disc / ideal, 0.0)
    return out


def average(
    per_user: Mapping[str, NDArray[np.floating]],
    n_relevant: NDArray[np.integer],
    *,
    divisor: Divisor,
) -> dict[str, float]:
    """Average per-user metrics.

    Args:
        per_user: metric name → (U,) vector, 0 for users without relevant items.
        n_relevant: (U,) relevant items per user.
        divisor: ``"users_with_truth"`` divides the sum by the users with >= 1 relevant item
            (standard; NaN when there is none); ``"all_users"`` by U, the official code's
            divisor (docs/authors-code.md#averages).
    """
    n_rel = np.asarray(n_relevant)
    if divisor == "users_with_truth":
        denom = int(np.count_nonzero(n_rel > 0))
    elif divisor == "all_users":
        denom = len(n_rel)
    else:
        raise ValueError(f"divisor must be one of {DIVISORS}, got {divisor!r}")
    return {
        name: float(np.sum(vec)) / denom if denom else float("nan")
        for name, vec in per_user.items()
    }


def _row_keys(lists: NDArray[np.int64], base: int) -> NDArray[np.int64]:
    rows = np.arange(lists.shape[0], dtype=np.int64)[:, None]
    return (rows * base + lists).ravel()


def _match_ranks(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.int64]:
    """(U*K,) max(r, rank of a[u, r] in b[u]) for each a entry, K where b[u] lacks it."""
    n_users, width = a.shape
    base = int(max(a.max(), b.max())) + 1
    b_keys = _row_keys(b, base)
    order = np.argsort(b_keys, kind="stable")
    sorted_b = b_keys[order]
    a_keys = _row_keys(a, base)
    if np.any(np.diff(sorted_b) == 0) or np.any(np.diff(np.sort(a_keys)) == 0):
        raise ValueError("items within a row must be distinct")
    where = np.minimum(np.searchsorted(sorted_b, a_keys), len(sorted_b) - 1)
    found = sorted_b[where] == a_keys
    rank_b = order[where] % width
    return np.where(found, np.maximum(np.tile(np.arange(width), n_users), rank_b), width)


def iou_at_k(
    a: NDArray[np.integer], b: NDArray[np.integer], *, ks: Sequence[int]
) -> dict[int, float]:
    """Mean over users of |A_k ∩ B_k| / |A_k ∪ B_k|, A_k and B_k the first k items of each row.

    The mean runs over all U rows, as the official `compute_iou` divides by U (Fig. 5a).
    Items within a row must be distinct (top-K lists are).

    Math:
        With m_r = max(r, rank of a[r] in b) (∞ if absent), |A_k ∩ B_k| = #{r : m_r < k}
        and |A_k ∪ B_k| = 2k - |A_k ∩ B_k|.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(f"a and b must be non-empty (U, K) of one shape; got {a.shape}, {b.shape}")
    if min(a.min(), b.min()) < 0:
        raise ValueError("item ids must be >= 0")
    n_users, width = a.shape
    if not ks or min(ks) < 1 or max(ks) > width:
        raise ValueError(f"every k must lie in [1, {width}], got {tuple(ks)}")
    m = _match_ranks(a, b)
    # per user, matches completed at each rank; cumulated, column k - 1 holds |A_k ∩ B_k|
    rows = np.repeat(np.arange(n_users, dtype=np.int64), width)
    done = np.bincount(rows * (width + 1) + m, minlength=n_users * (width + 1))
    inter = np.cumsum(done.reshape(n_users, width + 1)[:, :width], axis=1).astype(np.float64)
    return {int(k): float(np.mean(inter[:, k - 1] / (2 * k - inter[:, k - 1]))) for k in ks}


def long_tail_items(
    popularity: NDArray[np.integer], *, long_tail_share: float = 0.8
) -> NDArray[np.bool_]:
    """Mask of long-tail items (Abdollahpouri et al.'s head/tail cut).

    Items are ordered by popularity, descending, ties by ascending id. The *head* is the shortest
    prefix of that order whose counts sum to at least ``(1 - long_tail_share)`` of all
    interactions (20 % by default); every other item (zero-count items included) is long tail.
    """
    if not 0.0 <= long_tail_share <= 1.0:
        raise ValueError(f"long_tail_share must lie in [0, 1], got {long_tail_share}")
    pop = np.asarray(popularity, dtype=np.int64)
    order = np.lexsort((np.arange(len(pop)), -pop))
    target = (1.0 - long_tail_share) * pop.sum()
    n_head = 0 if target <= 0 else int(np.searchsorted(np.cumsum(pop[order]), target)) + 1
    tail = np.ones(len(pop), dtype=bool)
    tail[order[:n_head]] = False
    return tail


def gini(values: NDArray[np.number]) -> float:
    """Gini coefficient of non-negative values (0 = equal, (n-1)/n = one holds all).

    Math:
        G = sum_i (2i - n - 1) x_(i) / (n sum_i x_i), x sorted ascending, i = 1..n.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    return float(weights @ x / (n * total))


def popularity_bias(
    topk: NDArray[np.integer],
    popularity: NDArray[np.integer],
    *,
    k: int,
    long_tail_share: float = 0.8,
) -> dict[str, float]:
    """Popularity bias of the first k items of each top-K list.

    Definitions: docs/artefacts.md#popularity-bias-metrics.

    Args:
        topk: (U, K) recommended item ids, best first.
        popularity: (I,) training interaction counts of each item (training data only).
        k: cut-off, at most K.
        long_tail_share: share of interactions left to the long tail (see `long_tail_items`).

    Returns:
        ``avg_popularity``: mean over users of the mean popularity of their k items;
        ``long_tail_share``: fraction of the U*k recommended slots holding a long-tail item;
        ``gini``: Gini of item exposure (times each of the I items is recommended, zeros kept);
        ``coverage``: distinct recommended items / I.
    """
    pop = np.asarray(popularity, dtype=np.int64)
    top = np.asarray(topk, dtype=np.int64)
    if top.ndim != 2 or not 1 <= k <= top.shape[1]:
        raise ValueError(f"topk must be (U, K) with 1 <= k <= K; got {top.shape}, k={k}")
    top = top[:, :k]
    exposure = np.bincount(top.ravel(), minlength=len(pop))
    if len(exposure) > len(pop):
        raise ValueError("topk holds item ids beyond the popularity vector")
    return {
        "avg_popularity": float(pop[top].mean(axis=1).mean()) if len(top) else 0.0,
        "long_tail_share": float(long_tail_items(pop, long_tail_share=long_tail_share)[top].mean())
        if len(top)
        else 0.0,
        "gini": gini(exposure),
        "coverage": float(np.count_nonzero(exposure)) / len(pop),
    }
