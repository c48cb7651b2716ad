"""The intervened (non-IID) split of DICE §4.1 and its statistics.

A share of all records (40 % by default) is drawn without replacement with weight inversely
proportional to the item's popularity: the *intervened* set, whose item distribution is far
flatter than the rest (the *normal* training set). The intervened set is then cut uniformly at
random into intervened-train / validation / test (10 / 10 / 20 % of all; the authors' answer in
tsinghua-fib-lab/DICE#10, see docs/authors-code.md#split).

Two readings of "we cap the probability at 0.9" (DICE §4.1) are offered, see
docs/authors-code.md#cap:

* ``cap_mode="percentile"`` (the official code, dps ``SkewSplitter.unbiased_split``): the weight
  ``1/pop`` is clipped at the ``cap``-quantile of its distinct values, then records are drawn by
  successive weighted sampling (numpy ``choice(replace=False, p=w)``).
* ``cap_mode="probability"`` (the paper's wording): inclusion probabilities proportional to
  ``1/pop`` are capped at ``cap`` and the draw realises them exactly (systematic sampling).

``scope="per_user"`` draws within each user instead (dps ``skew_split_v2``), percentile mode only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import combinations, pairwise
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from dice.data.interactions import PARTS, Interactions, Split
from dice.errors import DiceError

CapMode = Literal["percentile", "probability"]
Scope = Literal["global", "per_user"]


def intervened_split(
    interactions: Interactions,
    *,
    cap: float | None = 0.9,
    cap_mode: CapMode = "percentile",
    scope: Scope = "global",
    intervened_train_share: float = 0.10,
    valid_share: float = 0.10,
    test_share: float = 0.20,
    intervened_pool_share: float | None = None,
    rng: np.random.Generator,
) -> Split:
    """Split `interactions` into normal train, intervened train, validation and test.

    Args:
        interactions: unique (user, item) records of the whole filtered dataset.
        cap: 0.9 by default (DICE §4.1); ``None`` disables the cap.
        cap_mode: ``"percentile"`` (official code) or ``"probability"`` (paper wording).
        scope: ``"global"`` (dps ``skew_split_v3``, the authors' choice) or ``"per_user"``.
        intervened_train_share: share of all records in intervened train (10 %; 0 allowed, Fig. 8b).
        valid_share: share of all records in validation (10 %, DICE §4.1).
        test_share: share of all records in test (20 %, DICE §4.1).
        intervened_pool_share: the intervened-train share the draw is made for (default
            `intervened_train_share`). A study of several shares passes its largest: every share
            then gets the same drawn set, validation, test and normal train, and intervened
            train is a prefix of the same shuffled pool, so the parts are nested across shares;
            the pool's unused records belong to no part.
        rng: the only source of randomness; the same seed gives the same split, byte for byte.

    Returns:
        The four parts, each sorted by user then item; normal train is everything not drawn.
    """
    pool = intervened_train_share if intervened_pool_share is None else intervened_pool_share
    if not intervened_train_share <= pool:
        raise DiceError(f"intervened_pool_share {pool} is below intervened_train_share "
                        f"{intervened_train_share}; the pool must hold the part")  # fmt: skip
    shares = (test_share, valid_share, pool)
    _validate(interactions, cap, cap_mode, scope, shares)
    keys = np.sort(interactions.keys())
    if np.any(keys[1:] == keys[:-1]):
        raise DiceError("interactions hold duplicate (user, item) pairs; deduplicate first")
    n_items = np.int64(interactions.n_items)
    user, item = keys // n_items, keys % n_items
    drawn, scale = _draw(user, item, interactions.n_items, shares, cap, cap_mode, scope, rng)
    parts = _cut(drawn, scale((test_share, valid_share, intervened_train_share)), rng)
    is_normal = np.ones(len(keys), dtype=bool)
    is_normal[drawn] = False
    normal = np.flatnonzero(is_normal)
    return Split(
        **{
            name: Interactions(user[idx], item[idx], interactions.n_users, interactions.n_items)
            for name, idx in zip(PARTS, (normal, *parts), strict=True)
        }
    )


def _draw(user, item, n_items: int, shares, cap, cap_mode, scope, rng) -> tuple[NDArray, Callable]:
    """Indices of the intervened records (test, valid, pool shares), and the function that turns
    (test, valid, intervened-train) shares into the boundaries that cut them into parts."""
    bounds = _cut_bounds(shares, len(item))
    if cap_mode == "probability":
        raw = inverse_popularity_weights(item, n_items, cap=None)
        return _draw_probability(raw, bounds[-1], cap, rng), partial(_cut_bounds, n_total=len(item))
    weights = inverse_popularity_weights(item, n_items, cap=cap)
    if scope == "global":
        return _draw_successive(weights, bounds[-1], rng), partial(_cut_bounds, n_total=len(item))
    drawn = _draw_per_user(user, weights, sum(shares), rng)
    # per-user rounding changes the drawn total: cut it in proportion to the shares
    return drawn, lambda cut: _cut_bounds(tuple(s / sum(shares) for s in cut), len(drawn))


def _validate(interactions: Interactions, cap, cap_mode, scope, shares) -> None:
    if cap_mode not in ("percentile", "probability"):
        raise DiceError(f"cap_mode must be 'percentile' or 'probability', not {cap_mode!r}")
    if scope not in ("global", "per_user"):
        raise DiceError(f"scope must be 'global' or 'per_user', not {scope!r}")
    if scope == "per_user" and cap_mode == "probability":
        raise DiceError("scope 'per_user' supports only cap_mode 'percentile'")
    if cap is not None and not 0.0 < cap <= 1.0:
        raise DiceError(f"cap must lie in (0, 1] or be null, not {cap}")
    if min(shares) < 0.0 or not 0.0 < sum(shares) < 1.0 - 1e-9:  # 0.6 + 0.3 + 0.1 < 1 in floats
        raise DiceError(
            f"split shares must be >= 0 with a sum in (0, 1), got {shares} (test, valid, intervened train)"
        )
    if len(interactions) == 0:
        raise DiceError("cannot split an empty set of interactions")


def inverse_popularity_weights(
    item: NDArray[np.int64], n_items: int, *, cap: float | None
) -> NDArray[np.float64]:
    """Per-record weight ``1/pop`` clipped at the `cap`-quantile of its distinct values.

    The authors' code (dps, docs/authors-code.md#cap): ``thr = np.percentile(unique(w), cap)``
    with linear interpolation, ``w = min(w, thr)``; our `cap` is a fraction, so it is scaled by
    100.
    """
    weights = 1.0 / np.bincount(item, minlength=n_items)[item]
    if cap is None:
        return weights
    threshold = np.percentile(np.unique(weights), cap * 100.0)
    return np.minimum(weights, threshold)


def _successive_keys(weights: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    # Efraimidis & Spirakis (2006): the m largest log(U)/w are a successive weighted sample.
    uniform = 1.0 - rng.random(len(weights))  # in (0, 1], so the log is finite
    return np.log(uniform) / weights


def _draw_successive(
    weights: NDArray[np.float64], size: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    order = np.argsort(-_successive_keys(weights, rng), kind="stable")  # ties: lower index first
    return np.sort(order[:size])


def _draw_per_user(
    user: NDArray[np.int64], weights: NDArray[np.float64], frac: float, rng: np.random.Generator
) -> NDArray[np.int64]:
    """dps ``skew_split_v2``: the weighted draw within each user, ``round(frac * n_u)`` records."""
    keys = _successive_keys(weights, rng)
    order = np.lexsort((np.arange(len(user)), -keys, user))  # by user, then key descending
    starts = np.searchsorted(user[order], user[order], side="left")
    rank = np.arange(len(order)) - starts
    sizes = np.rint(frac * np.bincount(user)).astype(np.int64)  # round half to even, like round()
    return np.sort(order[rank < sizes[user[order]]])


def inclusion_probabilities(
    weights: NDArray[np.float64], *, size: int, cap: float | None
) -> NDArray[np.float64]:
    """Inclusion probabilities proportional to `weights`, summing to `size`, none above `cap`.

    The paper's reading of the cap (DICE §4.1, "we cap the probability at 0.9"): records whose
    proportional probability exceeds `cap` are set to `cap` and the excess is spread over the
    others in proportion to their weights, repeated until no probability exceeds the cap.
    """
    limit = 1.0 if cap is None else cap
    if size > limit * len(weights) + 1e-9:
        raise DiceError(
            f"cannot draw {size} of {len(weights)} records with every inclusion probability <= {limit}"
        )
    capped = np.zeros(len(weights), dtype=bool)
    while True:
        free = size - limit * capped.sum()
        rest = weights[~capped].sum()
        probs = np.where(capped, limit, weights * (free / rest if rest > 0 else 0.0))
        over = ~capped & (probs > limit)
        if not over.any():
            return probs
        capped |= over


def _draw_probability(weights, size: int, cap, rng: np.random.Generator) -> NDArray[np.int64]:
    """Exactly `size` records with the capped inclusion probabilities (systematic sampling)."""
    probs = inclusion_probabilities(weights, size=size, cap=cap)
    if size == 0:
        return np.zeros(0, dtype=np.int64)
    perm = rng.permutation(len(probs))
    bounds = np.cumsum(probs[perm])
    bounds *= size / bounds[-1]  # remove floating drift so exactly `size` points fall inside
    points = rng.random() + np.arange(size)
    hits = np.minimum(np.searchsorted(bounds, points, side="right"), len(probs) - 1)
    drawn = np.unique(perm[hits])
    if len(drawn) != size:  # only possible through rounding when a probability is exactly 1
        raise DiceError("systematic sampling drew a record twice; lower the cap below 1")
    return drawn


def _cut_bounds(shares: tuple[float, float, float], n_total: int) -> list[int]:
    """Cumulative part boundaries (test, then valid, then intervened train) in the drawn set.

    Cumulative rounding keeps each part within one record of its share of all records, draws
    ``round(sum(shares) * N)`` records in all, and leaves intervened train empty for share 0.
    """
    return [0] + [int(round(c * n_total)) for c in np.cumsum(shares)]


def _cut(drawn, bounds: list[int], rng: np.random.Generator) -> tuple[NDArray[np.int64], ...]:
    """Uniform random cut of the drawn records into (intervened train, valid, test); records
    past the last bound (a pool's unused part) are in none."""
    shuffled = rng.permutation(drawn)
    test, valid, train = (np.sort(shuffled[a:b]) for a, b in pairwise(bounds))
    return train, valid, test


def pair_overlaps(split: Split) -> dict[str, int]:
    """Number of shared (user, item) pairs for every pair of parts, keyed ``"a&b"``."""
    keys = {name: split.part(name).keys() for name in PARTS}
    return {f"{a}&{b}": len(np.intersect1d(keys[a], keys[b])) for a, b in combinations(PARTS, 2)}


def check_disjoint(split: Split) -> None:
    """Raise `DiceError` if any (user, item) pair lies in two parts (a leakage guard)."""
    for pair, count in pair_overlaps(split).items():
        if count:
            first, second = pair.split("&")
            raise DiceError(f"split parts {first} and {second} share {count} (user, item) pairs")


def item_entropy(interactions: Interactions) -> float | None:
    """Entropy (natural log) of the item-count distribution, as in DICE Table 1."""
    counts = interactions.item_counts()
    counts = counts[counts > 0]
    if counts.size == 0:
        return None
    probs = counts / counts.sum()
    return float(-(probs * np.log(probs)).sum())


def split_statistics(split: Split, *, full: Interactions | None = None) -> dict:
    """Counts, shares, Table-1 entropies, popularity shift and overlap checks of `split`.

    Args:
        split: the split to describe.
        full: the whole dataset for popularity; by default the union of all parts.
    """
    every = _union(split)
    popularity = (full if full is not None else every).item_counts()
    train = split.train
    stats: dict = {
        "n_users": split.n_users,
        "n_items": split.n_items,
        "users": int(np.unique(every.user).size),
        "items": int(np.unique(every.item).size),
        "interactions": len(every),
        "parts": {name: _part_stats(split.part(name), len(every), popularity) for name in PARTS},
        "entropy": {
            "train": item_entropy(train),
            "train_normal": item_entropy(split.train_normal),
            "test": item_entropy(split.test),
        },
        "mean_popularity_train": _mean_popularity(train, popularity),
        "items_absent_from_train": int(
            ((every.item_counts() > 0) & (train.item_counts() == 0)).sum()
        ),
        "test_items_absent_from_train": int(
            ((split.test.item_counts() > 0) & (train.item_counts() == 0)).sum()
        ),
        "users_with_test": int(np.unique(split.test.user).size),
        "overlaps": pair_overlaps(split),
    }
    stats["disjoint"] = not any(stats["overlaps"].values())
    if full is not None:
        stats["covers_full"] = bool(np.array_equal(np.sort(every.keys()), np.sort(full.keys())))
    return stats


def _union(split: Split) -> Interactions:
    union = split.part(PARTS[0])
    for name in PARTS[1:]:
        union = union.concat(split.part(name))
    return union


def _part_stats(part: Interactions, n_total: int, popularity: NDArray[np.int64]) -> dict:
    return {
        "interactions": len(part),
        "share": len(part) / n_total if n_total else 0.0,
        "mean_popularity": _mean_popularity(part, popularity),
        "entropy": item_entropy(part),
    }


def _mean_popularity(part: Interactions, popularity: NDArray[np.int64]) -> float | None:
    return float(popularity[part.item].mean()) if len(part) else None


__all__ = [
    "check_disjoint",
    "inclusion_probabilities",
    "intervened_split",
    "inverse_popularity_weights",
    "item_entropy",
    "pair_overlaps",
    "split_statistics",
]
