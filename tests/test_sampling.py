"""Samplers: invariants, the PNSM rules of docs/authors-code.md#pnsm, and distribution checks
against slow per-sample reference samplers written here with plain Python loops."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dice.batches import EpochSampler
from dice.data.interactions import Interactions, Split
from dice.sampling import (
    ExclusionIndex,
    pnsm_fallback_rows,
    pnsm_negatives,
    random_negatives_with_mask,
    uniform_negatives,
)

ALPHA = 1e-3  # significance level of the distribution tests (fixed seeds: deterministic)


def make_interactions(seed: int, n_users: int = 40, n_items: int = 150, n: int = 2500):
    """Random interactions with a skewed (Zipf-like) item distribution, duplicates included."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.8
    item = rng.choice(n_items, size=n, p=weights / weights.sum())
    user = rng.integers(0, n_users, size=n)
    return Interactions(user.astype(np.int64), item.astype(np.int64), n_users, n_items)


def positives_of(inter: Interactions) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {u: set() for u in range(inter.n_users)}
    for u, i in zip(inter.user.tolist(), inter.item.tolist(), strict=True):
        out[u].add(i)
    return out


@pytest.fixture(scope="module")
def data():
    inter = make_interactions(0)
    pop = inter.item_counts()
    return inter, pop, ExclusionIndex.from_interactions(inter, popularity=pop), positives_of(inter)


# --- ExclusionIndex ------------------------------------------------------------------------


def excluded(index: ExclusionIndex, users, items) -> np.ndarray:
    """Whether each (user, item) pair is in the index: a lookup of its sorted pair keys."""
    query = np.asarray(users, dtype=np.int64) * index.n_items + np.asarray(items)
    return np.isin(query, index.by_item.keys)


def test_exclusion_index_matches_sets(data) -> None:
    inter, pop, index, pos = data
    users, items = np.meshgrid(np.arange(inter.n_users), np.arange(inter.n_items), indexing="ij")
    expected = np.array([[i in pos[u] for i in range(inter.n_items)] for u in range(inter.n_users)])
    assert np.array_equal(excluded(index, users, items), expected)
    assert np.array_equal(index.degree, [len(pos[u]) for u in range(inter.n_users)])


def test_rank_selection_lists_allowed_positions(data) -> None:
    # The r-th allowed item at or after lo, for every user, lo and r, against plain lists.
    inter, pop, index, pos = data
    for u in range(0, inter.n_users, 7):
        for lo in (0, 1, 40, 149):
            allowed = [i for i in range(lo, inter.n_items) if i not in pos[u]]
            ranks = np.arange(len(allowed))
            users, los = np.full_like(ranks, u), np.full_like(ranks, lo)
            c0 = index.by_item.count_below(users, los)
            assert index.by_item.select(users, los, c0, ranks).tolist() == allowed


def test_exclusion_index_without_popularity_refuses_pnsm(data) -> None:
    inter, pop, _, _ = data
    bare = ExclusionIndex.from_interactions(inter)
    with pytest.raises(ValueError, match="same popularity"):
        pnsm_negatives(
            [0], [0], k=4, popularity=pop, margin_up=40, exclude=bare, rng=np.random.default_rng(0)
        )


# --- uniform negatives -----------------------------------------------------------------------


def test_uniform_negatives_invariants_and_determinism(data) -> None:
    inter, _, index, pos = data
    users = np.random.default_rng(1).integers(0, inter.n_users, size=3000)
    neg = uniform_negatives(
        users, k=4, n_items=inter.n_items, exclude=index, rng=np.random.default_rng(5)
    )
    assert neg.shape == (3000, 4) and neg.dtype == np.int64
    assert not any(j in pos[u] for u, row in zip(users, neg.tolist(), strict=True) for j in row)
    assert all(len(set(row)) == 4 for row in neg.tolist())
    again = uniform_negatives(
        users, k=4, n_items=inter.n_items, exclude=index, rng=np.random.default_rng(5)
    )
    other = uniform_negatives(
        users, k=4, n_items=inter.n_items, exclude=index, rng=np.random.default_rng(6)
    )
    assert np.array_equal(neg, again) and not np.array_equal(neg, other)


def test_uniform_negatives_short_and_empty_users() -> None:
    # user 0 has items 0..6 of 10 (3 left, k = 4 → duplicates allowed); user 1 has all 10 items
    inter = Interactions(
        np.array([0] * 7 + [1] * 10), np.array(list(range(7)) + list(range(10))), 3, 10
    )
    index = ExclusionIndex.from_interactions(inter)
    neg = uniform_negatives([0] * 50, k=4, n_items=10, exclude=index, rng=np.random.default_rng(0))
    assert set(neg.ravel().tolist()) == {7, 8, 9}
    with pytest.raises(ValueError, match="user 1 has no item"):
        uniform_negatives([2, 1], k=4, n_items=10, exclude=index, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_items"):
        uniform_negatives([2], k=4, n_items=11, exclude=index, rng=np.random.default_rng(0))


def test_uniform_negatives_are_uniform_over_ordered_pairs() -> None:
    # user 0 excludes items {1, 4, 6, 7} of 10 → 6 allowed; k = 2 → 6·5 = 30 ordered pairs,
    # each with probability 1/30 under sampling without replacement.
    inter = Interactions(np.zeros(4, np.int64), np.array([1, 4, 6, 7]), 1, 10)
    index = ExclusionIndex.from_interactions(inter)
    neg = uniform_negatives(
        np.zeros(30_000, np.int64), k=2, n_items=10, exclude=index, rng=np.random.default_rng(3)
    )
    counts = Counter(map(tuple, neg.tolist()))
    allowed = [0, 2, 3, 5, 8, 9]
    assert set(counts) == {(a, b) for a in allowed for b in allowed if a != b}
    assert stats.chisquare(list(counts.values())).pvalue > ALPHA


# --- PNSM ------------------------------------------------------------------------------------


def pnsm(users, pos_items, index, *, k=4, margin_up=40.0, pool=40, seed=0):
    return pnsm_negatives(
        users, pos_items, k=k, popularity=index.popularity, margin_up=margin_up, pool=pool,
        exclude=index, rng=np.random.default_rng(seed),
    )  # fmt: skip


def test_pnsm_rules_hold_per_entry(data) -> None:
    inter, pop, index, pos = data
    rows = np.random.default_rng(2).integers(0, len(inter), size=4000)
    users, items = inter.user[rows], inter.item[rows]
    m = 3.7 * 0.9**2  # a decayed, non-integer margin
    neg, mask = pnsm(users, items, index, margin_up=m, pool=10)
    fallback = pnsm_fallback_rows(
        users, items, k=4, popularity=pop, margin_up=m, pool=10, exclude=index
    )
    p = pop[items][:, None].astype(float)
    rule = np.where(mask, pop[neg] > p + m, pop[neg] < p / 2)
    assert rule[~fallback].all()
    assert mask.any() and not mask.all()
    assert np.array_equal(mask[fallback], pop[neg[fallback]] > p[fallback])
    assert not any(j in pos[u] for u, row in zip(users, neg.tolist(), strict=True) for j in row)
    assert all(len(set(row)) == 4 for row in neg.tolist())
    again, again_mask = pnsm(users, items, index, margin_up=m, pool=10)
    other, _ = pnsm(users, items, index, margin_up=m, pool=10, seed=1)
    assert np.array_equal(neg, again) and np.array_equal(mask, again_mask)
    assert not np.array_equal(neg, other)


def brute_branch(u: int, i: int, *, pop, excluded, margin: float, pool: int, k: int = 4) -> str:
    """The §2.7 branch of (u, i), from pool sizes counted with Python sets, or "fallback" when
    the branch's pool (either pool in the coin branch) has fewer than k allowed items."""
    n_up = sum(pop[j] > pop[i] + margin and j not in excluded for j in range(len(pop)))
    n_down = sum(pop[j] < pop[i] / 2 and j not in excluded for j in range(len(pop)))
    if n_up < pool:
        branch, need = "down_only", n_down
    elif n_down < pool:
        branch, need = "up_only", n_up
    else:
        branch, need = "mixed", min(n_up, n_down)
    return "fallback" if need < k else branch


@pytest.mark.parametrize(("margin", "pool"), [(3.7, 10), (0.5, 2), (20.0, 40)])
def test_pnsm_fallback_rows_match_brute_force(data, margin: float, pool: int) -> None:
    inter, pop, index, pos = data
    rows = np.arange(0, len(inter), 5)
    users, items = inter.user[rows], inter.item[rows]
    expected = [
        brute_branch(u, i, pop=pop, excluded=pos[u], margin=margin, pool=pool) == "fallback"
        for u, i in zip(users.tolist(), items.tolist(), strict=True)
    ]
    got = pnsm_fallback_rows(
        users, items, k=4, popularity=pop, margin_up=margin, pool=pool, exclude=index
    )
    assert got.tolist() == expected


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(5, 40),
    margin=st.floats(0, 12, allow_nan=False),
    pool=st.integers(0, 12),
    k=st.integers(1, 5),
)
def test_pnsm_invariants_property(
    seed: int, n_items: int, margin: float, pool: int, k: int
) -> None:
    # Random small catalogues with ties: every row obeys exclusion, distinctness (when the user
    # has >= k allowed items) and, outside the brute-force fallback rows, the §2.7 rules.
    rng = np.random.default_rng(seed)
    pop = rng.integers(0, 30, size=n_items)
    n_users = 4
    user = rng.integers(0, n_users, size=3 * n_items)
    item = rng.integers(0, n_items, size=3 * n_items)
    inter = Interactions(user, item, n_users, n_items)
    index = ExclusionIndex.from_interactions(inter, popularity=pop)
    pos = positives_of(inter)
    keep = [r for r in range(len(inter)) if len(pos[int(user[r])]) < n_items]
    users, items = user[keep], item[keep]
    neg, mask = pnsm(users, items, index, k=k, margin_up=margin, pool=pool, seed=seed)
    for u, i, row, sides in zip(
        users.tolist(), items.tolist(), neg.tolist(), mask.tolist(), strict=True
    ):
        assert not set(row) & pos[u]
        if n_items - len(pos[u]) >= k:  # else drawn with replacement (uniform fallback)
            assert len(set(row)) == k
        if (
            brute_branch(u, i, pop=pop, excluded=pos[u], margin=margin, pool=pool, k=k)
            == "fallback"
        ):
            assert sides == [pop[j] > pop[i] for j in row]
        else:
            assert all(
                pop[j] > pop[i] + margin if s else pop[j] < pop[i] / 2
                for j, s in zip(row, sides, strict=True)
            )


def pinned_catalogue() -> tuple[Interactions, np.ndarray]:
    # items 0..49: popularity 100; item 50: popularity 10; items 51..100: popularity 1.
    # user 0 has only item 50, so for (0, 50): p = 10, C_up = P > 50 = items 0..49,
    # C_down = P < 5 = items 51..100; both have 50 >= 40 items → the fair-coin branch.
    pop = np.array([100] * 50 + [10] + [1] * 50)
    return Interactions(np.array([0]), np.array([50]), 1, len(pop)), pop


def test_pnsm_mask_direction_is_pinned() -> None:
    inter, pop = pinned_catalogue()
    index = ExclusionIndex.from_interactions(inter, popularity=pop)
    neg, mask = pnsm(np.zeros(500, np.int64), np.full(500, 50), index)
    assert (neg[mask] < 50).all()  # mask True ⇒ a popularity-100 item: MORE popular (O2)
    assert (neg[~mask] > 50).all()  # mask False ⇒ a popularity-1 item: less popular (O1)
    assert 0.45 < mask.mean() < 0.55
    # the RANDOM ablation uses the same direction
    _, rmask = random_negatives_with_mask(
        np.zeros(200, np.int64), np.full(200, 50), k=4, popularity=pop, exclude=index,
        rng=np.random.default_rng(0),
    )  # fmt: skip
    assert rmask.any() and not rmask.all()


@pytest.mark.parametrize(
    ("p", "margin", "up_pops", "down_pops"),
    [
        (5, 2.5, {8, 9}, {2}),  # P > 7.5 ⇔ P >= 8; P < 2.5 ⇔ P <= 2 (odd p: ceil(5/2) = 3)
        (6, 2.0, {9}, {2}),  # P > 8 excludes 8 itself; P < 3 excludes 3 itself (even p)
        (6, 1.9999999, {8, 9}, {2}),  # a decayed margin just under 2: floor(7.9999999) = 7
    ],
)
def test_pnsm_margin_boundaries(p: int, margin: float, up_pops: set, down_pops: set) -> None:
    # 45 items at each popularity in {2, 3, 7, 8, 9}, plus the positive (item 0) at p.
    pop = np.array([p] + [v for v in (2, 3, 7, 8, 9) for _ in range(45)])
    inter = Interactions(np.array([0]), np.array([0]), 1, len(pop))
    index = ExclusionIndex.from_interactions(inter, popularity=pop)
    neg, mask = pnsm(np.zeros(3000, np.int64), np.zeros(3000, np.int64), index, margin_up=margin)
    assert set(pop[neg[mask]].tolist()) == up_pops
    assert set(pop[neg[~mask]].tolist()) == down_pops


def branch_case(up_items: int, down_items: int) -> ExclusionIndex:
    """Positive item 0 (p = 100) of user 0; `up_items` at P = 200, `down_items` at P = 10, and
    60 items at P = 100 that are in neither pool. User 0 also owns one item of each pool."""
    pop = np.array([100] + [200] * up_items + [10] * down_items + [100] * 60)
    owned = [0] + ([1] if up_items else []) + ([1 + up_items] if down_items else [])
    inter = Interactions(np.zeros(len(owned), np.int64), np.array(owned), 1, len(pop))
    return ExclusionIndex.from_interactions(inter, popularity=pop)


@pytest.mark.parametrize(
    ("up_items", "down_items", "expected_mask"),
    [
        (40, 50, False),
        (41, 50, None),
        (50, 40, True),
        (50, 41, None),
        (20, 20, False),
        (5, 20, False),
    ],
)
def test_pnsm_branches(up_items: int, down_items: int, expected_mask: bool | None) -> None:
    # |C_up| = up_items - 1 after exclusion: 39 < 40 → all from C_down (mask False); 40 → ok.
    index = branch_case(up_items, down_items)
    users, items = np.zeros(400, np.int64), np.zeros(400, np.int64)
    neg, mask = pnsm(users, items, index)
    pop = index.popularity
    assert not excluded(index, users[:, None], neg).any()
    if expected_mask is None:
        assert 0.4 < mask.mean() < 0.6
    else:
        assert (mask == expected_mask).all()
    assert (pop[neg] == np.where(mask, 200, 10)).all()


def test_pnsm_fallback_when_both_pools_are_tiny() -> None:
    # |C_up| = 2 < 40 → branch 1, but |C_down| = 2 < k = 4 → uniform over allowed items.
    index = branch_case(3, 3)
    users, items = np.zeros(2000, np.int64), np.zeros(2000, np.int64)
    kwargs = dict(k=4, popularity=index.popularity, margin_up=40.0, pool=40, exclude=index)
    assert pnsm_fallback_rows(users, items, **kwargs).all()
    neg, mask = pnsm(users, items, index)
    allowed = set(range(index.n_items)) - {0, 1, 4}
    assert set(neg.ravel().tolist()) == allowed
    assert np.array_equal(mask, index.popularity[neg] > 100)
    assert all(len(set(row)) == 4 for row in neg.tolist())
    # pool = 2: |C_up| = |C_down| = 2 → the coin branch, which k = 2 negatives never exhaust
    assert not pnsm_fallback_rows(users, items, **{**kwargs, "k": 2, "pool": 2}).any()


def reference_pnsm(u, i, *, k, pop, margin, pool, excluded, rng):
    """The authors' PNSM (docs/authors-code.md#pnsm) literally, one positive at a time."""
    p = pop[i]
    c_up = [j for j in range(len(pop)) if pop[j] > p + margin and j not in excluded]
    c_down = [j for j in range(len(pop)) if pop[j] < p / 2 and j not in excluded]
    if len(c_up) < pool:
        sides = [False] * k
    elif len(c_down) < pool:
        sides = [True] * k
    else:
        sides = [rng.random() < 0.5 for _ in range(k)]
    chosen: list[int] = []
    for side in sides:
        cands = c_up if side else c_down
        j = cands[rng.integers(len(cands))]
        while j in chosen:
            j = cands[rng.integers(len(cands))]
        chosen.append(j)
    return chosen, sides


def assert_matches_reference(u, i, index, excluded, *, margin, pool, n=3000) -> None:
    """Vectorised vs reference PNSM for n copies of the positive (u, i): a two-sample
    chi-square on the (position in row, item, mask) frequencies and on the per-row number of
    O2 negatives (Binomial(4, 1/2) in the coin branch)."""
    pop = index.popularity
    neg, mask = pnsm(np.full(n, u), np.full(n, i), index, margin_up=margin, pool=pool, seed=11)
    rng = np.random.default_rng(12)
    ref = [
        reference_pnsm(u, i, k=4, pop=pop, margin=margin, pool=pool, excluded=excluded, rng=rng)
        for _ in range(n)
    ]
    fast = Counter(
        (col, j, s)
        for row, sides in zip(neg.tolist(), mask.tolist(), strict=True)
        for col, (j, s) in enumerate(zip(row, sides, strict=True))
    )
    slow = Counter(
        (col, j, s) for row, sides in ref for col, (j, s) in enumerate(zip(row, sides, strict=True))
    )
    assert set(fast) == set(slow)  # the same support: same pools, same exclusions
    cells = sorted(fast)
    table = np.array([[fast[c] for c in cells], [slow[c] for c in cells]])
    assert stats.chi2_contingency(table).pvalue > ALPHA
    fast_rows = np.bincount(mask.sum(axis=1), minlength=5)
    slow_rows = np.bincount([sum(s) for _, s in ref], minlength=5)
    keep = (fast_rows + slow_rows) > 0
    if keep.sum() > 1:
        assert stats.chi2_contingency(np.stack([fast_rows[keep], slow_rows[keep]])).pvalue > ALPHA
    else:
        assert np.array_equal(fast_rows, slow_rows)


@pytest.mark.parametrize("case", ["mixed", "up_only", "down_only"])
def test_pnsm_matches_reference_distribution(data, case: str) -> None:
    # Users here own ~50 items, so the chosen pools contain excluded items (mixed: 26 of 65
    # up and 1 of 23 down; up_only: 41 of 105 up; down_only: 18 of 135 down).
    inter, pop, index, pos = data
    m, pool = 1.5, 8
    u, i = next(
        (u, i)
        for u, i in zip(inter.user.tolist(), inter.item.tolist(), strict=True)
        if brute_branch(u, i, pop=pop, excluded=pos[u], margin=m, pool=pool) == case
    )
    assert_matches_reference(u, i, index, pos[u], margin=m, pool=pool)


def test_pnsm_matches_reference_with_tight_pools() -> None:
    # p = 10; C_up = 5 items at P = 100, C_down = 6 at P = 1, user 0 owns one of each, so
    # 4 and 5 remain; pool = 4 → the coin branch, and a row of 4 can exhaust C_up. Rows must
    # still be uniform over distinct draws per side (an up draw must ignore down draws).
    pop = np.array([10] + [100] * 5 + [1] * 6 + [10] * 5)
    owned = [0, 1, 6]
    inter = Interactions(np.zeros(3, np.int64), np.array(owned), 1, len(pop))
    index = ExclusionIndex.from_interactions(inter, popularity=pop)
    assert brute_branch(0, 0, pop=pop, excluded=set(owned), margin=40.0, pool=4) == "mixed"
    assert_matches_reference(0, 0, index, set(owned), margin=40.0, pool=4)


def test_random_negatives_with_mask(data) -> None:
    inter, pop, index, pos = data
    rows = np.arange(0, len(inter), 3)
    users, items = inter.user[rows], inter.item[rows]
    neg, mask = random_negatives_with_mask(
        users, items, k=4, popularity=pop, exclude=index, rng=np.random.default_rng(4)
    )
    assert np.array_equal(mask, pop[neg] > pop[items][:, None])
    assert not any(j in pos[u] for u, row in zip(users, neg.tolist(), strict=True) for j in row)
    assert all(len(set(row)) == 4 for row in neg.tolist())


# --- EpochSampler: which positives a row's negatives avoid -----------------------------------


def two_part_split() -> Split:
    """7 items; user 0: normal {0, 1}, intervened {2, 3}; user 1: normal {2, 4}, intervened {0}."""

    def part(users, items):
        return Interactions(np.array(users), np.array(items), 2, 7)

    return Split(part([0, 0, 1, 1], [0, 1, 2, 4]), part([0, 0, 1], [2, 3, 0]),
                 part([0, 1], [5, 6]), part([0, 1], [6, 5]))  # fmt: skip


# (exclusion, user, intervened row) -> the items its negatives may be: all 7 items minus the
# user's positives of the row's own part (same_part) or of both training parts (all_train)
ALLOWED = {
    ("same_part", 0, False): {2, 3, 4, 5, 6},
    ("same_part", 0, True): {0, 1, 4, 5, 6},
    ("same_part", 1, False): {0, 1, 3, 5, 6},
    ("same_part", 1, True): {1, 2, 3, 4, 5, 6},
    ("all_train", 0, False): {4, 5, 6},
    ("all_train", 0, True): {4, 5, 6},
    ("all_train", 1, False): {1, 3, 5, 6},
    ("all_train", 1, True): {1, 3, 5, 6},
}


@pytest.mark.parametrize("kind", ["uniform", "random", "pnsm"])
@pytest.mark.parametrize(("exclusion", "k"), [("same_part", 5), ("all_train", 3)])
def test_negative_exclusion_same_part_excludes_only_the_rows_own_part(kind, exclusion, k):
    sampler = EpochSampler(two_part_split(), kind=kind, k=k, exclusion=exclusion)
    rng, seen = np.random.default_rng(0), {}
    for _ in range(30):
        samples = sampler.sample(rng=rng, margin_up=0.0, pool=7)
        assert samples.users.tolist() == [0, 0, 1, 1, 0, 0, 1]  # normal rows, then intervened
        assert samples.pos.tolist() == [0, 1, 2, 4, 2, 3, 0]
        assert samples.intervened.tolist() == [False] * 4 + [True] * 3
        for user, flag, row in zip(samples.users, samples.intervened, samples.neg, strict=True):
            allowed = ALLOWED[exclusion, int(user), bool(flag)]
            assert set(row.tolist()) <= allowed, (user, flag, row)
            seen.setdefault((int(user), bool(flag)), set()).update(row.tolist())
    if kind != "pnsm":  # uniform over the allowed items: 30 epochs reach every one of them
        assert seen == {(u, f): ALLOWED[exclusion, u, f] for u, f in seen}
        assert len(seen) == 4
