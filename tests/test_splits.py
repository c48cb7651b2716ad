"""Invariants of the intervened split (docs/protocol.md#intervened-split): partition, determinism,
popularity shift, shares.

Expected values are derived here: the percentile threshold by hand, the capped inclusion
probabilities by root finding (scipy `brentq`), and the inclusion probabilities of successive
sampling by enumerating every ordered draw of a tiny input.
"""

from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from dice.data.interactions import PARTS, Interactions, Split
from dice.data.splits import (
    check_disjoint,
    inclusion_probabilities,
    intervened_split,
    inverse_popularity_weights,
    item_entropy,
    split_statistics,
)
from dice.errors import DiceError

SETTINGS = settings(max_examples=40, deadline=None)


def make(keys, n_users: int, n_items: int) -> Interactions:
    keys = np.asarray(sorted(keys), dtype=np.int64)
    return Interactions(keys // n_items, keys % n_items, n_users, n_items)


@st.composite
def interactions(draw) -> Interactions:
    n_users, n_items = draw(st.integers(1, 8)), draw(st.integers(1, 10))
    keys = draw(st.sets(st.integers(0, n_users * n_items - 1), min_size=1))
    return make(keys, n_users, n_items)


def power_law(n_users: int = 200, n_items: int = 100, n: int = 3000, seed: int = 7) -> Interactions:
    """Unique pairs whose item popularity follows Zipf's law (exponent 1)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1)
    user = rng.integers(n_users, size=3 * n)
    item = rng.choice(n_items, size=3 * n, p=p / p.sum())
    keys = np.unique(user * n_items + item)
    return make(rng.permutation(keys)[:n], n_users, n_items)


def keysets(split: Split) -> dict[str, np.ndarray]:
    return {name: split.part(name).keys() for name in PARTS}


def drawn_keys(split: Split) -> np.ndarray:
    """Keys of the intervened records (everything outside normal train)."""
    return np.concatenate([split.part(n).keys() for n in PARTS[1:]])


def assert_partition(split: Split, data: Interactions) -> None:
    keys = keysets(split)
    union = np.sort(np.concatenate(list(keys.values())))
    np.testing.assert_array_equal(union, np.sort(data.keys()))  # union = input, no duplicates
    for name, part_keys in keys.items():
        assert np.all(np.diff(part_keys) > 0), f"{name} not sorted by (user, item)"
    check_disjoint(split)


@SETTINGS
@given(
    data=interactions(),
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["percentile", "probability"]),
)
def test_parts_partition_input_with_requested_sizes(data, seed, mode):
    split = intervened_split(data, cap_mode=mode, rng=np.random.default_rng(seed))
    assert_partition(split, data)
    n = len(data)
    for name, share in [("train_intervened", 0.1), ("valid", 0.1), ("test", 0.2)]:
        assert abs(len(split.part(name)) - share * n) <= 1, name
    assert len(drawn_keys(split)) == round(0.4 * n)


@SETTINGS
@given(
    data=interactions(),
    shares=st.tuples(*[st.integers(0, 30)] * 3).filter(lambda t: 0 < sum(t) < 100),
)
def test_share_parameters_are_honoured(data, shares):
    train_share, valid_share, test_share = (s / 100 for s in shares)
    split = intervened_split(
        data,
        intervened_train_share=train_share,
        valid_share=valid_share,
        test_share=test_share,
        rng=np.random.default_rng(0),
    )
    assert_partition(split, data)
    n = len(data)
    for name, share in [
        ("train_intervened", train_share),
        ("valid", valid_share),
        ("test", test_share),
    ]:
        assert abs(len(split.part(name)) - share * n) <= 1, name
    if train_share == 0:
        assert len(split.train_intervened) == 0


def test_no_intervened_training_data_fig8b():
    data = power_law()
    split = intervened_split(data, intervened_train_share=0.0, rng=np.random.default_rng(3))
    assert len(split.train_intervened) == 0
    assert len(split.valid) == round(0.1 * len(data)) == 300
    assert len(split.test) == round(0.2 * len(data)) == 600
    assert len(split.train_normal) == 2100


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"cap_mode": "probability"},
        {"scope": "per_user"},
        {"cap": None},
    ],
)
def test_same_seed_same_bytes_other_seed_differs(options):
    data = power_law()
    first = intervened_split(data, rng=np.random.default_rng(5), **options)
    again = intervened_split(data, rng=np.random.default_rng(5), **options)
    other = intervened_split(data, rng=np.random.default_rng(6), **options)
    for name in PARTS:
        a, b = first.part(name), again.part(name)
        assert a.user.tobytes() == b.user.tobytes() and a.item.tobytes() == b.item.tobytes()
    assert not np.array_equal(first.test.keys(), other.test.keys())


def test_split_does_not_depend_on_input_row_order():
    data = power_law()
    order = np.random.default_rng(1).permutation(len(data))
    shuffled = Interactions(data.user[order], data.item[order], data.n_users, data.n_items)
    a = intervened_split(data, rng=np.random.default_rng(2))
    b = intervened_split(shuffled, rng=np.random.default_rng(2))
    for name in PARTS:
        np.testing.assert_array_equal(a.part(name).keys(), b.part(name).keys())


@pytest.mark.parametrize(
    "options", [{}, {"cap": 0.5}, {"cap_mode": "probability"}, {"scope": "per_user"}]
)
def test_test_items_less_popular_than_training_items(options):
    data = power_law()
    split = intervened_split(data, rng=np.random.default_rng(0), **options)
    stats = split_statistics(split, full=data)
    assert stats["parts"]["test"]["mean_popularity"] < 0.8 * stats["mean_popularity_train"]
    assert stats["entropy"]["test"] > stats["entropy"]["train"] > stats["entropy"]["train_normal"]


def test_percentile_threshold_by_hand():
    # item popularities 1, 2, 4, 5 -> distinct weights sorted [0.2, 0.25, 0.5, 1].
    # 90th percentile (linear): position 0.9 * 3 = 2.7 -> 0.5 + 0.7 * (1 - 0.5) = 0.85.
    # 50th percentile: position 1.5 -> 0.25 + 0.5 * (0.5 - 0.25) = 0.375.
    item = np.repeat(np.arange(4), [1, 2, 4, 5])
    raw = 1.0 / np.repeat([1, 2, 4, 5], [1, 2, 4, 5])
    np.testing.assert_allclose(inverse_popularity_weights(item, 4, cap=None), raw)
    np.testing.assert_allclose(inverse_popularity_weights(item, 4, cap=1.0), raw)
    np.testing.assert_allclose(inverse_popularity_weights(item, 4, cap=0.9), np.minimum(raw, 0.85))
    np.testing.assert_allclose(inverse_popularity_weights(item, 4, cap=0.5), np.minimum(raw, 0.375))


def successive_inclusion(weights: np.ndarray, size: int) -> np.ndarray:
    """Exact inclusion probabilities of successive sampling, by enumerating ordered draws."""
    probs = np.zeros(len(weights))
    for seq in permutations(range(len(weights)), size):
        p, left = 1.0, weights.sum()
        for i in seq:
            p *= weights[i] / left
            left -= weights[i]
        probs[list(seq)] += p
    return probs


def inclusion_frequency(data: Interactions, runs: int, **options) -> np.ndarray:
    keys = data.keys()
    hits = np.zeros(len(keys))
    for seed in range(runs):
        split = intervened_split(data, rng=np.random.default_rng(seed), **options)
        hits += np.isin(keys, drawn_keys(split))
    return hits / runs


def assert_frequency_matches(freq: np.ndarray, probs: np.ndarray, runs: int) -> None:
    tolerance = 4.5 * np.sqrt(probs * (1 - probs) / runs) + 0.01
    assert np.all(np.abs(freq - probs) <= tolerance), (freq, probs)


def tiny_skewed() -> Interactions:
    # 7 records on items with popularity 4, 2, 1: user u has (u, 0); users 0,1 have item 1.
    return make([0 * 3 + 0, 1 * 3 + 0, 2 * 3 + 0, 3 * 3 + 0, 0 * 3 + 1, 1 * 3 + 1, 4 * 3 + 2], 5, 3)


def test_percentile_draw_is_successive_weighted_sampling():
    data = tiny_skewed()  # N = 7, drawn = round(0.4 * 7) = 3
    weights = inverse_popularity_weights(data.item, data.n_items, cap=None)
    expected = successive_inclusion(weights, 3)
    runs = 2000
    freq = inclusion_frequency(data, runs, cap=None)
    assert_frequency_matches(freq, expected, runs)


def test_capped_probabilities_match_root_finding_oracle():
    weights = 1.0 / np.array([1, 1, 2, 3, 5, 8, 8, 20, 20, 40], dtype=float)
    size, cap = 4, 0.7
    probs = inclusion_probabilities(weights, size=size, cap=cap)
    scale = brentq(lambda c: np.minimum(cap, c * weights).sum() - size, 0.0, 1e6)
    np.testing.assert_allclose(probs, np.minimum(cap, scale * weights), rtol=1e-9)
    assert probs.max() <= cap + 1e-12 and math.isclose(probs.sum(), size)


def test_probability_mode_realises_capped_inclusion_probabilities():
    data = tiny_skewed()
    cap, runs = 0.8, 2000
    expected = inclusion_probabilities(1.0 / data.item_counts()[data.item], size=3, cap=cap)
    assert expected.max() <= cap and math.isclose(expected.sum(), 3)
    assert np.sum(expected == cap) == 1  # the popularity-1 record is capped
    freq = inclusion_frequency(data, runs, cap=cap, cap_mode="probability")
    assert_frequency_matches(freq, expected, runs)


@SETTINGS
@given(data=interactions(), seed=st.integers(0, 2**32 - 1))
def test_per_user_scope_keeps_per_user_sizes(data, seed):
    split = intervened_split(data, scope="per_user", rng=np.random.default_rng(seed))
    assert_partition(split, data)
    drawn_users = np.concatenate([split.part(n).user for n in PARTS[1:]])
    expected = np.rint(
        0.4 * np.bincount(data.user, minlength=data.n_users)
    )  # round half to even, like Python's round
    np.testing.assert_array_equal(np.bincount(drawn_users, minlength=data.n_users), expected)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cap": 0.0}, "cap must lie in"),
        ({"cap": 1.5}, "cap must lie in"),
        ({"valid_share": -0.1}, "shares"),
        ({"test_share": 0.6, "valid_share": 0.3, "intervened_train_share": 0.1}, "shares"),
        ({"cap_mode": "probability", "scope": "per_user"}, "per_user"),
        ({"cap_mode": "probability", "cap": 0.3}, "inclusion probability"),
        ({"cap_mode": "quantile"}, "cap_mode"),
        ({"scope": "item"}, "scope"),
    ],
)
def test_invalid_arguments_raise_one_line_errors(options, message):
    with pytest.raises(DiceError, match=message) as err:
        intervened_split(power_law(n=100), rng=np.random.default_rng(0), **options)
    assert "\n" not in str(err.value)


def test_duplicate_or_empty_input_is_rejected():
    dup = Interactions(np.array([0, 0]), np.array([1, 1]), 1, 2)
    with pytest.raises(DiceError, match="duplicate"):
        intervened_split(dup, rng=np.random.default_rng(0))
    empty = Interactions(np.zeros(0, np.int64), np.zeros(0, np.int64), 1, 1)
    with pytest.raises(DiceError, match="empty"):
        intervened_split(empty, rng=np.random.default_rng(0))


def hand_split() -> Split:
    def part(user, item):
        return Interactions(np.array(user, np.int64), np.array(item, np.int64), 3, 5)

    return Split(
        train_normal=part([0, 1, 2], [0, 0, 1]),
        train_intervened=part([0], [2]),
        valid=part([1], [1]),
        test=part([1, 2], [2, 3]),
    )


def test_statistics_by_hand():
    stats = split_statistics(hand_split())
    # train items 0, 0, 1, 2 -> p = (1/2, 1/4, 1/4): H = 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2
    assert math.isclose(stats["entropy"]["train"], 1.5 * math.log(2))
    assert math.isclose(
        stats["entropy"]["train_normal"], -(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3)
    )
    assert math.isclose(stats["entropy"]["test"], math.log(2))  # items 2 and 3 once each
    assert (stats["users"], stats["items"], stats["interactions"]) == (3, 4, 7)
    # popularity over all 7 records: item 0 -> 2, 1 -> 2, 2 -> 2, 3 -> 1
    assert stats["parts"]["test"]["mean_popularity"] == 1.5
    assert stats["mean_popularity_train"] == 2.0
    assert stats["parts"]["valid"]["share"] == 1 / 7
    assert stats["items_absent_from_train"] == 1 and stats["test_items_absent_from_train"] == 1
    assert stats["users_with_test"] == 2
    assert stats["disjoint"] and set(stats["overlaps"].values()) == {0}
    assert item_entropy(Interactions(np.zeros(0, np.int64), np.zeros(0, np.int64), 1, 1)) is None


def test_check_disjoint_names_parts_and_count():
    split = hand_split()
    leaky = Split(split.train_normal, split.train_intervened, split.valid, split.train_normal)
    with pytest.raises(DiceError, match="train_normal and test share 3"):
        check_disjoint(leaky)
    stats = split_statistics(leaky)
    assert stats["overlaps"]["train_normal&test"] == 3 and not stats["disjoint"]
