"""Preprocessing: hand-worked cases, a plain-Python reference on random data, real ML-100K."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dice.data.datasets import load_ratings
from dice.data.preprocess import (
    Prepared,
    PreprocessConfig,
    load_prepared,
    preprocess,
    save_prepared,
)
from dice.errors import DiceError
from dice.seeding import numpy_rng


def ratings(rows: list[tuple]) -> pd.DataFrame:
    """(user, item, rating, timestamp) tuples as a `load_ratings` frame."""
    frame = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    return frame.astype(
        {"user": "int64", "item": "int64", "rating": "float64", "timestamp": "int64"}
    )


def run(rows: list[tuple], **options) -> Prepared:
    return preprocess(ratings(rows), PreprocessConfig(**options), rng=numpy_rng(0, "preprocess"))


def original_pairs(prepared: Prepared) -> list[tuple[int, int]]:
    inter = prepared.interactions
    return list(
        zip(
            prepared.user_ids[inter.user].tolist(),
            prepared.item_ids[inter.item].tolist(),
            strict=True,
        )
    )


def reference(rows: list[tuple], threshold: float, k: int, mode: str) -> tuple[list, list, list]:
    """The steps written as plain loops: (new user, new item) records and both id maps."""
    positives = [row for row in rows if row[2] >= threshold]
    by_time = sorted(range(len(positives)), key=lambda n: positives[n][3])  # sorted() is stable
    seen, records = set(), []
    for n in by_time:
        user, item = positives[n][:2]
        if (user, item) not in seen:
            seen.add((user, item))
            records.append((user, item))
    while True:
        before = len(records)
        items = Counter(item for _, item in records)
        records = [r for r in records if items[r[1]] > k]
        users = Counter(user for user, _ in records)
        records = [r for r in records if users[r[0]] > k]
        if mode == "one_pass" or len(records) == before:
            break
    user_map = {user: None for user, _ in records}  # dicts keep first-insertion order
    item_map = {item: None for _, item in records}
    new_user = {user: n for n, user in enumerate(user_map)}
    new_item = {item: n for n, item in enumerate(item_map)}
    return [(new_user[u], new_item[i]) for u, i in records], list(user_map), list(item_map)


# --- hand-worked cases -----------------------------------------------------------------------

# k = 1 (keep > 1). Items: x=100 {A,B,C}, y=200 {A,B}, z=300 {C,D}; users A=1, B=2, C=3, D=4.
# Item pass keeps all (each >= 2); user pass drops D (1 record), so z falls back to 1 record.
# Iterating then drops z, which leaves C with 1 record, so C goes too.
FALLBACK = [
    (1, 100, 5, 1),
    (1, 200, 5, 2),
    (2, 100, 5, 3),
    (2, 200, 5, 4),
    (3, 100, 5, 5),
    (3, 300, 5, 6),
    (4, 300, 5, 7),
]


def test_one_pass_filter_lets_items_fall_back_to_k_or_fewer():
    prepared = run(FALLBACK, min_count=1)
    assert original_pairs(prepared) == [(1, 100), (1, 200), (2, 100), (2, 200), (3, 100), (3, 300)]
    assert prepared.interactions.item_counts().min() == 1  # z kept with a single record
    assert prepared.stats["filtered"] == {"records": 6, "users": 3, "items": 3}


def test_iterative_filter_reaches_a_fixed_point():
    prepared = run(FALLBACK, min_count=1, filter="iterative")
    assert original_pairs(prepared) == [(1, 100), (1, 200), (2, 100), (2, 200)]
    inter = prepared.interactions
    assert inter.item_counts().min() > 1
    assert np.bincount(inter.user, minlength=inter.n_users).min() > 1


def test_filter_keeps_strictly_more_than_k():
    # k = 2: items 7, 9, 11 have 3 records (kept); item 8 has exactly 2 (dropped); each user
    # then has 3 records (kept). With k = 3 nothing survives.
    rows = [(u, i, 5, 10 * u + i) for u in range(3) for i in (7, 9, 11)] + [
        (0, 8, 5, 100),
        (1, 8, 5, 101),
    ]
    prepared = run(rows, min_count=2)
    assert sorted(prepared.item_ids.tolist()) == [7, 9, 11] and sorted(
        prepared.user_ids.tolist()
    ) == [0, 1, 2]
    assert len(prepared.interactions) == 9
    with pytest.raises(DiceError, match="the filter removed every record; lower min_count"):
        run(rows, min_count=3)


def test_threshold_drops_half_stars_and_dedup_keeps_the_earliest():
    rows = [(1, 10, 4.5, 1), (1, 20, 5.0, 50), (2, 20, 5.0, 40), (1, 20, 5.0, 10), (2, 10, 3.0, 2)]
    prepared = run(rows, min_count=0)
    # 4.5 and 3.0 dropped; (1, 20) kept at t=10, so user 1 appears first, then user 2 at t=40
    assert original_pairs(prepared) == [(1, 20), (2, 20)]
    assert prepared.user_ids.tolist() == [1, 2]
    assert {step: c["records"] for step, c in prepared.stats.items()} == {
        "raw": 5, "positive": 3, "deduplicated": 2, "downsampled": 2, "filtered": 2,
    }  # fmt: skip
    assert len(run(rows, min_count=0, rating_threshold=4.0).interactions) == 3


def test_reindex_follows_first_appearance_in_time_with_stable_ties():
    rows = [(30, 300, 5, 5), (10, 100, 5, 1), (20, 300, 5, 3), (40, 100, 5, 3)]
    prepared = run(rows, min_count=0)
    assert prepared.user_ids.tolist() == [10, 20, 40, 30]  # t=3 tie: file order (20 before 40)
    assert prepared.item_ids.tolist() == [100, 300]
    assert prepared.interactions.user.tolist() == [0, 1, 2, 3]
    assert prepared.interactions.item.tolist() == [0, 1, 0, 1]
    assert prepared.interactions.user.dtype == np.int64


def test_user_downsampling_is_seeded_and_precedes_the_filter():
    rng = np.random.default_rng(5)
    rows = [
        (int(u), int(i), 5.0, t)
        for t, (u, i) in enumerate(rng.integers(0, [40, 15], size=(600, 2)))
    ]
    frame = ratings(rows)
    config = PreprocessConfig(min_count=0, user_fraction=0.5)
    one = preprocess(frame, config, rng=numpy_rng(1, "downsample"))
    again = preprocess(frame, config, rng=numpy_rng(1, "downsample"))
    other = preprocess(frame, config, rng=numpy_rng(2, "downsample"))
    assert (
        one.stats["downsampled"]["users"] == 20 and one.user_ids.tolist() == again.user_ids.tolist()
    )
    assert set(one.user_ids) != set(other.user_ids)
    # same seed, a real filter: the same users are drawn first, then the filter runs on them
    filtered = preprocess(
        frame, PreprocessConfig(min_count=8, user_fraction=0.5), rng=numpy_rng(1, "downsample")
    )
    kept_rows = [row for row in rows if row[0] in set(one.user_ids.tolist())]
    pairs, users, items = reference(kept_rows, 5.0, 8, "one_pass")
    assert filtered.user_ids.tolist() == users and filtered.item_ids.tolist() == items


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"rating_threshold": float("nan")}, "rating_threshold"),
        ({"min_count": -1}, "min_count"),
        ({"min_count": 2.5}, "min_count"),
        ({"min_count": True}, "min_count"),
        ({"filter": "kcore"}, "filter must be one of one_pass, iterative"),
        ({"user_fraction": 0.0}, "user_fraction"),
        ({"user_fraction": 1.5}, "user_fraction"),
    ],
)
def test_config_rejects_bad_values(options, problem):
    with pytest.raises(DiceError, match=problem):
        PreprocessConfig(**options)


def test_missing_columns_are_reported():
    with pytest.raises(DiceError, match="lack column.*timestamp"):
        preprocess(
            pd.DataFrame({"user": [1], "item": [2], "rating": [5.0]}),
            PreprocessConfig(),
            rng=numpy_rng(0, "p"),
        )


# --- against the reference -------------------------------------------------------------------

ROWS = st.lists(
    st.tuples(
        st.integers(0, 12), st.integers(0, 9), st.sampled_from([3.0, 4.5, 5.0]), st.integers(0, 30)
    ),
    max_size=150,
)


@settings(max_examples=150, deadline=None)
@given(rows=ROWS, k=st.integers(0, 3), mode=st.sampled_from(["one_pass", "iterative"]))
def test_matches_the_plain_python_reference(rows, k, mode):
    pairs, users, items = reference(rows, 5.0, k, mode)
    if not pairs:
        with pytest.raises(DiceError, match="removed every record"):
            run(rows, min_count=k, filter=mode)
        return
    prepared = run(rows, min_count=k, filter=mode)
    inter = prepared.interactions
    assert list(zip(inter.user.tolist(), inter.item.tolist(), strict=True)) == pairs
    assert prepared.user_ids.tolist() == users and prepared.item_ids.tolist() == items
    assert (inter.n_users, inter.n_items) == (len(users), len(items))


# --- files -----------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    prepared = run(FALLBACK, min_count=1)
    save_prepared(prepared, tmp_path / "prep")
    back = load_prepared(tmp_path / "prep")
    np.testing.assert_array_equal(back.interactions.user, prepared.interactions.user)
    np.testing.assert_array_equal(back.interactions.item, prepared.interactions.item)
    assert (back.interactions.n_users, back.interactions.n_items) == (3, 3)
    assert back.user_ids.tolist() == [1, 2, 3] and back.item_ids.tolist() == [100, 200, 300]
    assert back.stats == prepared.stats
    assert sorted(p.name for p in (tmp_path / "prep").iterdir()) == [
        "interactions.parquet", "item_ids.parquet", "meta.json", "user_ids.parquet",
    ]  # fmt: skip


def test_load_reports_missing_or_inconsistent_files(tmp_path):
    with pytest.raises(DiceError, match="metadata is missing"):
        load_prepared(tmp_path)
    save_prepared(run(FALLBACK, min_count=1), tmp_path)
    pd.DataFrame({"user": [0, 2, 1], "original_id": [1, 2, 3]}).to_parquet(
        tmp_path / "user_ids.parquet"
    )
    with pytest.raises(DiceError, match="user_ids.parquet: column 'user' must list 0..2 in order"):
        load_prepared(tmp_path)


# --- real data -------------------------------------------------------------------------------


@pytest.mark.realdata
def test_ml100k_defaults_match_the_reference(tmp_path):
    frame = load_ratings("ml100k", raw_dir=tmp_path)
    prepared = preprocess(frame, PreprocessConfig(), rng=numpy_rng(0, "preprocess"))
    pairs, users, items = reference(
        list(frame.itertuples(index=False, name=None)), 5.0, 10, "one_pass"
    )
    inter = prepared.interactions
    assert list(zip(inter.user.tolist(), inter.item.tolist(), strict=True)) == pairs
    assert (inter.n_users, inter.n_items, len(inter)) == (len(users), len(items), len(pairs))
    assert (len(users), len(items), len(pairs)) == (514, 456, 16_475)  # recorded for the report
