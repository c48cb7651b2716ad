"""Negative samplers: uniform (BPR baselines) and DICE's PNSM, vectorised and exact.

Semantics follow the authors' samplers (docs/authors-code.md#negative-sampling for uniform,
docs/authors-code.md#pnsm for PNSM). Layout: items sorted by popularity make PNSM's candidate
pools a suffix / prefix of that order, and per-user sorted keys give the exclusion-adjusted sizes.

Instead of rejection sampling, each draw picks a uniform *rank* among the user's allowed items of
a range and maps it to the item with one `searchsorted` (the r-th allowed position x solves
x = lo + r + #{excluded ≤ x}); ranks within a row are made distinct by the classic shift
("r += 1 for each earlier rank ≤ r", in ascending order), which is sequential sampling without
replacement. The result has exactly the official distribution, with no redraw loop: the cost is
O(K² + log n) per row even for users whose positives fill most of a pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dice.data.interactions import Interactions

_NEVER = np.iinfo(np.int64).max  # a rank no draw reaches


@dataclass(frozen=True, eq=False)
class _Positions:
    """Each user's excluded items as positions in one item order (sorted per user)."""

    keys: NDArray[np.int64]  # user * n_items + position, sorted
    gaps: NDArray[np.int64]  # user * (n_items + 1) + position - (index within user), sorted
    start: NDArray[np.int64]  # (n_users + 1,) offsets of each user's block
    degree: NDArray[np.int64]  # (n_users,) block sizes
    n_items: int

    @classmethod
    def build(cls, users: NDArray, positions: NDArray, n_users: int, n_items: int) -> _Positions:
        keys = np.unique(users * np.int64(n_items) + positions)
        owner = keys // n_items
        start = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=n_users), out=start[1:])
        within = np.arange(len(keys), dtype=np.int64) - start[owner]
        gaps = owner * np.int64(n_items + 1) + (keys - owner * n_items) - within
        return cls(keys, gaps, start, np.diff(start), n_items)

    def count_below(self, users: NDArray, lo: NDArray) -> NDArray[np.int64]:
        """How many of the user's excluded positions are < lo (0 <= lo <= n_items)."""
        found = np.searchsorted(self.keys, users * np.int64(self.n_items) + lo, side="left")
        return found - self.start[users]

    def select(self, users: NDArray, lo: NDArray, c0: NDArray, rank: NDArray) -> NDArray[np.int64]:
        """The position of the rank-th (0-based) non-excluded position at or after lo, where
        c0 = count_below(users, lo) (callers usually know it already)."""
        # excluded e_t (t-th of the user's) precedes the answer x iff e_t - t <= rank + lo - c0
        query = users * np.int64(self.n_items + 1) + rank + lo - c0
        skipped = np.searchsorted(self.gaps, query, side="right") - self.start[users] - c0
        return lo + rank + skipped


@dataclass(frozen=True, eq=False)
class ExclusionIndex:
    """The items each user may not receive as negatives (their positives in one training part).

    Build one per training part to keep the official quirk that a sampler excludes only the
    user's positives of its own part (docs/authors-code.md#negative-sampling).
    """

    n_users: int
    n_items: int
    by_item: _Positions
    popularity: NDArray[np.int64] | None = None
    order: NDArray[np.int64] | None = None  # items by ascending popularity, stable
    sorted_pop: NDArray[np.int64] | None = None  # popularity[order]
    by_pop: _Positions | None = None  # excluded items as positions in `order`

    @classmethod
    def from_interactions(
        cls, inter: Interactions, *, popularity: ArrayLike | None = None
    ) -> ExclusionIndex:
        """Index `inter`'s (user, item) pairs; `popularity` (length n_items) enables PNSM."""
        by_item = _Positions.build(inter.user, inter.item, inter.n_users, inter.n_items)
        if popularity is None:
            return cls(inter.n_users, inter.n_items, by_item)
        pop = np.asarray(popularity)
        if pop.shape != (inter.n_items,) or (len(pop) and pop.min() < 0):
            raise ValueError(f"popularity must be {inter.n_items} non-negative counts")
        order = np.argsort(pop, kind="stable").astype(np.int64)
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        by_pop = _Positions.build(inter.user, position[inter.item], inter.n_users, inter.n_items)
        return cls(inter.n_users, inter.n_items, by_item, pop.copy(), order, pop[order], by_pop)

    @property
    def degree(self) -> NDArray[np.int64]:
        """(n_users,) number of distinct excluded items per user."""
        return self.by_item.degree


def _distinct_ranks(
    n_avail: NDArray[np.int64], group: NDArray[np.bool_], rng: np.random.Generator
) -> NDArray[np.int64]:
    """(M, K) ranks, distinct among the entries of a row that share a `group` value.

    Entry j draws r uniform in [0, n_avail[:, j] - #earlier same-group entries) and is shifted
    past the earlier same-group ranks in ascending order: sequential sampling without
    replacement. Requires n_avail >= K wherever the whole row shares one group.
    Works on contiguous columns and orders the earlier ranks with a sorting network (K is
    small), about twice as fast as row-wise sorts; the draws and results are the same.
    """
    m, k = group.shape
    groups, avail = np.ascontiguousarray(group.T), np.ascontiguousarray(n_avail.T)
    ranks: list[NDArray[np.int64]] = []
    for j in range(k):
        same = [groups[c] == groups[j] for c in range(j)]
        r = rng.integers(0, avail[j] - sum(same, np.zeros(m, dtype=np.int64)))  # (M,)
        for earlier in _sorted_columns([np.where(s, ranks[c], _NEVER) for c, s in enumerate(same)]):
            r += r >= earlier
        ranks.append(r)
    return np.stack(ranks, axis=1) if ranks else np.zeros((m, 0), dtype=np.int64)


def _sorted_columns(columns: list[NDArray]) -> list[NDArray]:
    """Element-wise ascending order of a few equal-length columns (odd-even transposition)."""
    for step in range(len(columns)):
        for a in range(step % 2, len(columns) - 1, 2):
            low = np.minimum(columns[a], columns[a + 1])
            columns[a + 1] = np.maximum(columns[a], columns[a + 1])
            columns[a] = low
    return columns


def _check_rows(users: ArrayLike, exclude: ExclusionIndex, k: int) -> NDArray[np.int64]:
    users = np.asarray(users, dtype=np.int64)
    if users.ndim != 1 or k < 1:
        raise ValueError(f"need a 1-d users array and k >= 1, got shape {users.shape}, k={k}")
    if len(users) and (users.min() < 0 or users.max() >= exclude.n_users):
        raise ValueError(f"user ids must lie in [0, {exclude.n_users})")
    return users


def _check_items(items: ArrayLike, users: NDArray, n_items: int) -> NDArray[np.int64]:
    items = np.asarray(items, dtype=np.int64)
    if items.shape != users.shape:
        raise ValueError("users and pos_items must have the same shape")
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"item ids must lie in [0, {n_items})")
    return items


def uniform_negatives(
    users: ArrayLike, *, k: int, n_items: int, exclude: ExclusionIndex, rng: np.random.Generator
) -> NDArray[np.int64]:
    """K negatives per row, uniform over the items the row's user has not interacted with.

    Distinct within a row, as in docs/authors-code.md#negative-sampling. A row whose user has
    fewer than K allowed items draws them with replacement (duplicates, never positives).

    Args:
        users: (N,) user of each row.
        k: negatives per row (4 in the paper).
        n_items: number of items; must equal ``exclude.n_items``.
        exclude: each user's items that may not be drawn.
        rng: the sampler's generator.

    Returns:
        (N, k) int64 item ids.

    Raises:
        ValueError: a user has no allowed item at all.
    """
    users = _check_rows(users, exclude, k)
    if n_items != exclude.n_items:
        raise ValueError(f"n_items={n_items} but the exclusion index has {exclude.n_items}")
    n_avail = n_items - exclude.degree[users]  # (N,)
    if len(users) and n_avail.min() < 1:
        raise ValueError(f"user {users[np.argmin(n_avail)]} has no item left to sample")
    order = np.argsort(users, kind="stable")  # user-grouped lookups are cache-friendly
    neg = np.empty((len(users), k), dtype=np.int64)
    neg[order] = _uniform_grouped(users[order], n_avail[order], k, exclude, rng)
    return neg


def _uniform_grouped(users, n_avail, k, exclude, rng) -> NDArray[np.int64]:
    full = n_avail >= k
    ranks = np.empty((len(users), k), dtype=np.int64)
    same = np.zeros((full.sum(), k), dtype=bool)
    ranks[full] = _distinct_ranks(np.repeat(n_avail[full, None], k, axis=1), same, rng)
    ranks[~full] = rng.integers(0, n_avail[~full, None], size=((~full).sum(), k))
    rows = np.repeat(users[:, None], k, axis=1)
    zeros = np.zeros_like(rows)
    return exclude.by_item.select(rows, zeros, zeros, ranks)


@dataclass(frozen=True)
class _Pools:
    """Each row's PNSM pools: C_up = order[lo_up:], C_down = order[:hi_down], minus exclusions."""

    lo_up: NDArray[np.int64]
    below_up: NDArray[np.int64]  # the user's excluded positions < lo_up
    n_up: NDArray[np.int64]  # |C_up| after removing the user's excluded items
    n_down: NDArray[np.int64]  # |C_down| after removing them
    up_only: NDArray[np.bool_]
    down_only: NDArray[np.bool_]
    fallback: NDArray[np.bool_]


def _pnsm_pools(users, pos_items, k, popularity, margin_up, pool, exclude) -> _Pools:
    if exclude.popularity is None or not np.array_equal(popularity, exclude.popularity):
        raise ValueError("exclude must be built with the same popularity array")
    if not np.isfinite(margin_up) or margin_up < 0 or pool < 0:
        raise ValueError(f"need margin_up >= 0 and pool >= 0, got {margin_up}, {pool}")
    p = exclude.popularity.astype(np.float64)  # per item: the bounds depend on the item only
    # Float comparisons as in the official code. For integer P they mean P > floor(p + m) and
    # P < ceil(p / 2): an odd p = 2q + 1 admits P <= q, an even p = 2q admits P <= q - 1.
    # One search per item, gathered per row (as count_pop_greater / count_pop_less would do).
    lo_up = np.searchsorted(exclude.sorted_pop, p + margin_up, side="right")[pos_items]
    hi_down = np.searchsorted(exclude.sorted_pop, p / 2, side="left")[pos_items]
    above = exclude.degree[users] - exclude.by_pop.count_below(users, lo_up)
    n_up = exclude.n_items - lo_up - above
    n_down = hi_down - exclude.by_pop.count_below(users, hi_down)
    down_only = n_up < pool  # official branch 1: all negatives less popular
    up_only = ~down_only & (n_down < pool)  # branch 2: all more popular
    mixed = ~down_only & ~up_only  # branch 3: a fair coin per negative
    fallback = (down_only & (n_down < k)) | (up_only & (n_up < k))
    fallback |= mixed & (np.minimum(n_up, n_down) < k)  # only possible when pool < k
    below_up = exclude.degree[users] - above
    return _Pools(lo_up, below_up, n_up, n_down, up_only, down_only, fallback)


def pnsm_fallback_rows(
    users: ArrayLike,
    pos_items: ArrayLike,
    *,
    k: int,
    popularity: ArrayLike,
    margin_up: float,
    pool: int = 40,
    exclude: ExclusionIndex,
) -> NDArray[np.bool_]:
    """(N,) whether each row of `pnsm_negatives` takes the uniform fallback (for logging).

    Deterministic: a row falls back when a pool its branch draws from has fewer than K allowed
    items (branch 1: C_down; branch 2: C_up; branch 3: either, possible only when pool < K).
    """
    users = _check_rows(users, exclude, k)
    pos_items = _check_items(pos_items, users, exclude.n_items)
    return _pnsm_pools(users, pos_items, k, popularity, margin_up, pool, exclude).fallback


def pnsm_negatives(
    users: ArrayLike,
    pos_items: ArrayLike,
    *,
    k: int,
    popularity: ArrayLike,
    margin_up: float,
    pool: int = 40,
    exclude: ExclusionIndex,
    rng: np.random.Generator,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """DICE's popularity-based negative sampling with margin (PNSM), official semantics.

    For a row (u, i) with p = popularity[i] (normal-train counts, docs/authors-code.md#pnsm):
    C_up = {j : P[j] > p + margin_up} and C_down = {j : P[j] < p / 2}, both minus the user's
    excluded items. If |C_up| < pool, all K negatives come from C_down (mask False); elif
    |C_down| < pool, all from C_up (mask True); else each negative flips a fair coin (heads:
    C_up, mask True; tails: C_down, mask False). Negatives are distinct within a row.
    mask True ⇔ the negative is MORE popular ⇔ the paper's O2 (tsinghua-fib-lab/DICE#7).

    Fallback (docs/authors-code.md#pnsm; the authors' code crashes or loops forever here): a row
    whose branch pool has fewer than K allowed items (see `pnsm_fallback_rows`) draws uniform
    negatives from all of the user's allowed items, with mask = popularity[neg] > popularity[pos].

    Args:
        users: (N,) user of each positive.
        pos_items: (N,) positive item of each row.
        k: negatives per positive (4).
        popularity: (n_items,) counts; `exclude` must have been built with the same array.
        margin_up: m_up, an absolute count (40 at epoch 0, ×0.9 per epoch; may be non-integer).
        pool: minimum pool size of the branch rule (40; never decayed).
        exclude: the user's positives in the positive's own training part.
        rng: the sampler's generator.

    Returns:
        (N, k) int64 negatives and (N, k) bool mask.
    """
    users = _check_rows(users, exclude, k)
    pos_items = _check_items(pos_items, users, exclude.n_items)
    order = np.argsort(users, kind="stable")  # user-grouped lookups are cache-friendly
    users, pos_items = users[order], pos_items[order]
    pools = _pnsm_pools(users, pos_items, k, popularity, margin_up, pool, exclude)
    neg, mask = np.empty((len(users), k), dtype=np.int64), np.empty((len(users), k), dtype=bool)
    neg[order], mask[order] = _pnsm_grouped(users, pos_items, pools, k, exclude, rng)
    return neg, mask


def _pnsm_grouped(users, pos_items, pools: _Pools, k, exclude, rng):
    coins = rng.random((len(users), k)) < 0.5
    up = np.where(pools.up_only[:, None], True, np.where(pools.down_only[:, None], False, coins))
    neg = np.empty((len(users), k), dtype=np.int64)
    ok = ~pools.fallback
    up_ok = up[ok]
    n_avail = np.where(up_ok, pools.n_up[ok, None], pools.n_down[ok, None])  # (M, k)
    ranks = _distinct_ranks(n_avail, up_ok, rng)
    lo = np.where(up_ok, pools.lo_up[ok, None], 0)
    c0 = np.where(up_ok, pools.below_up[ok, None], 0)
    rows = np.repeat(users[ok, None], k, axis=1)
    neg[ok] = exclude.order[exclude.by_pop.select(rows, lo, c0, ranks)]
    fb = pools.fallback
    if fb.any():
        neg[fb] = uniform_negatives(
            users[fb], k=k, n_items=exclude.n_items, exclude=exclude, rng=rng
        )
        up[fb] = exclude.popularity[neg[fb]] > exclude.popularity[pos_items[fb, None]]
    return neg, up


def random_negatives_with_mask(
    users: ArrayLike,
    pos_items: ArrayLike,
    *,
    k: int,
    popularity: ArrayLike,
    exclude: ExclusionIndex,
    rng: np.random.Generator,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """DICE with "RANDOM" negatives (paper Table 3): uniform negatives, mask by popularity.

    mask = popularity[neg] > popularity[pos] (strictly more popular ⇒ O2, as PNSM's mask);
    ties count as O1.

    Returns:
        (N, k) int64 negatives and (N, k) bool mask.
    """
    users = _check_rows(users, exclude, k)
    pos_items = _check_items(pos_items, users, exclude.n_items)
    neg = uniform_negatives(users, k=k, n_items=exclude.n_items, exclude=exclude, rng=rng)
    pop = np.asarray(popularity)
    return neg, pop[neg] > pop[pos_items[:, None]]
