"""Ranking metrics, IOU and popularity bias: hand-derived cases, ranx as an oracle, properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dice.metrics import average, gini, iou_at_k, long_tail_items, popularity_bias, rank_metrics
from dice.seeding import numpy_rng

LOG2_3 = np.log2(3.0)

# Four users, lists of K = 3, cut-offs k = 2 and 3.
#   user 0: truth {10, 11, 12, 13} (n = 4 > k), list [10, 99, 12] -> hits [1, 0, 1]
#     @2: recall 1/4; hr 1; dcg 1/log2(2) = 1; idcg = 1 + 1/log2(3)        -> ndcg 1 / 1.63093
#     @3: recall 2/4; hr 1; dcg 1 + 1/log2(4) = 1.5; idcg = 1 + 1/log2 3 + 1/2 -> ndcg 1.5 / 2.13093
#   user 1: truth {5}, list [1, 2, 3] -> no hit: everything 0
#   user 2: truth {7, 8}, list [8, 7, 1] -> perfect: recall 1, hr 1, ndcg 1 at both k
#     (@3: dcg = 1 + 1/log2 3 over idcg min(3, 2) = 2 ranks = the same)
#   user 3: no truth -> everything 0 (and excluded from the "users_with_truth" average)
HITS = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=bool)
N_REL = np.array([4, 1, 2, 0])
EXPECTED = {
    "recall@2": [0.25, 0, 1, 0],
    "hr@2": [1, 0, 1, 0],
    "ndcg@2": [1 / (1 + 1 / LOG2_3), 0, 1, 0],
    "recall@3": [0.5, 0, 1, 0],
    "hr@3": [1, 0, 1, 0],
    "ndcg@3": [1.5 / (1.5 + 1 / LOG2_3), 0, 1, 0],
}


def test_hand_case_per_user() -> None:
    got = rank_metrics(HITS, N_REL, ks=(2, 3))
    assert set(got) == set(EXPECTED)
    for name, values in EXPECTED.items():
        np.testing.assert_allclose(got[name], values, rtol=0, atol=1e-12, err_msg=name)


def test_hand_case_averages() -> None:
    per_user = rank_metrics(HITS, N_REL, ks=(2, 3))
    # recall@2: (0.25 + 0 + 1) / 3 users with truth; / 4 users for the official divisor
    standard = average(per_user, N_REL, divisor="users_with_truth")
    official = average(per_user, N_REL, divisor="all_users")
    assert standard["recall@2"] == pytest.approx(1.25 / 3, abs=1e-12)
    assert official["recall@2"] == pytest.approx(1.25 / 4, abs=1e-12)
    assert standard["hr@3"] == pytest.approx(2 / 3, abs=1e-12)
    assert official["ndcg@3"] == pytest.approx(sum(EXPECTED["ndcg@3"]) / 4, abs=1e-12)


def test_average_without_any_truth_is_nan_or_zero() -> None:
    per_user = {"recall@1": np.zeros(2)}
    assert np.isnan(average(per_user, [0, 0], divisor="users_with_truth")["recall@1"])
    assert average(per_user, [0, 0], divisor="all_users")["recall@1"] == 0.0
    with pytest.raises(ValueError, match="divisor"):
        average(per_user, [0, 0], divisor="users")  # type: ignore[arg-type]


def test_rejects_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="more hits"):
        rank_metrics(np.ones((1, 3), bool), np.array([2]), ks=(3,))
    with pytest.raises(ValueError, match="k must"):
        rank_metrics(HITS, N_REL, ks=(4,))


def test_matches_ranx() -> None:
    ranx = pytest.importorskip("ranx")
    rng = numpy_rng(0, "test-ranx")
    n_users, width, n_items = 40, 50, 120
    lists = np.stack([rng.permutation(n_items)[:width] for _ in range(n_users)])
    truth = [set(rng.choice(n_items, size=rng.integers(1, 60), replace=False)) for _ in lists]
    hits = np.array([[i in t for i in row] for row, t in zip(lists, truth, strict=True)])
    n_rel = np.array([len(t) for t in truth])
    qrels = ranx.Qrels({f"{u:03d}": {str(i): 1 for i in t} for u, t in enumerate(truth)})
    # distinct scores width..1 so that ranx keeps our order; ranx sorts query ids as strings
    run = ranx.Run(
        {
            f"{u:03d}": {str(i): float(width - r) for r, i in enumerate(row)}
            for u, row in enumerate(lists)
        }
    )
    ours = rank_metrics(hits, n_rel, ks=(20, 50))
    for k, (mine, theirs) in itertools.product(
        (20, 50), [("recall", "recall"), ("hr", "hit_rate"), ("ndcg", "ndcg")]
    ):
        ref = ranx.evaluate(qrels, run, f"{theirs}@{k}", return_mean=False)
        np.testing.assert_allclose(
            ours[f"{mine}@{k}"], ref, rtol=0, atol=1e-9, err_msg=f"{mine}@{k}"
        )


@st.composite
def hit_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    hits = draw(arrays(bool, st.tuples(st.integers(1, 6), st.integers(1, 8))))
    extra = draw(arrays(np.int64, hits.shape[0], elements=st.integers(0, 10)))
    return hits, hits.sum(axis=1) + extra


@settings(max_examples=60, deadline=None)
@given(hit_cases())
def test_properties(case: tuple[np.ndarray, np.ndarray]) -> None:
    hits, n_rel = case
    ks = sorted({1, hits.shape[1]})
    got = rank_metrics(hits, n_rel, ks=ks)
    for k in ks:
        for name in ("recall", "hr", "ndcg"):
            assert np.all((got[f"{name}@{k}"] >= 0) & (got[f"{name}@{k}"] <= 1 + 1e-12))
        assert np.all(got[f"hr@{k}"] >= (got[f"recall@{k}"] > 0))
        # turning any miss into a hit (n_rel permitting) never lowers NDCG
        for u, r in zip(*np.nonzero(~hits), strict=True):
            if hits[u].sum() < n_rel[u]:
                more = hits.copy()
                more[u, r] = True
                after = rank_metrics(more, n_rel, ks=[k])[f"ndcg@{k}"][u]
                assert after >= got[f"ndcg@{k}"][u] - 1e-12


def test_iou_identical_and_disjoint() -> None:
    a = np.array([[3, 1, 2], [0, 5, 4]])
    assert iou_at_k(a, a, ks=(1, 2, 3)) == {1: 1.0, 2: 1.0, 3: 1.0}
    assert iou_at_k(a, a + 10, ks=(1, 2, 3)) == {1: 0.0, 2: 0.0, 3: 0.0}


def test_iou_hand_case() -> None:
    # user 0: A = [1 2 3 4], B = [2 1 5 3]
    #   k=1 {1}/{2}: 0; k=2: 2/2 = 1; k=3 {1,2,3}/{2,1,5}: 2/4; k=4: {1,2,3} of 5 -> 3/5
    # user 1: A = [7 8 9 10], B = [10 9 8 7]
    #   k=1: 0; k=2 {7,8}/{10,9}: 0; k=3 {8,9} of {7,8,9,10}: 2/4; k=4: 1
    a = np.array([[1, 2, 3, 4], [7, 8, 9, 10]])
    b = np.array([[2, 1, 5, 3], [10, 9, 8, 7]])
    got = iou_at_k(a, b, ks=(1, 2, 3, 4))
    assert got == pytest.approx({1: 0.0, 2: 0.5, 3: 0.5, 4: 0.8}, abs=1e-12)


def test_iou_matches_set_reference() -> None:
    rng = numpy_rng(1, "test-iou")
    a = np.stack([rng.permutation(15)[:8] for _ in range(30)])
    b = np.stack([rng.permutation(15)[:8] for _ in range(30)])
    got = iou_at_k(a, b, ks=range(1, 9))
    for k in range(1, 9):
        ref = np.mean(
            [
                len(set(x[:k]) & set(y[:k])) / len(set(x[:k]) | set(y[:k]))
                for x, y in zip(a, b, strict=True)
            ]
        )
        assert got[k] == pytest.approx(ref, abs=1e-12)
    with pytest.raises(ValueError, match="distinct"):
        iou_at_k(np.array([[1, 1]]), np.array([[1, 2]]), ks=(2,))


def test_long_tail_items() -> None:
    # total 100; the head holds the most popular items reaching (1 - share) of it
    pop = np.array([30, 20, 30, 20, 0])
    # share 0.8: 20 needed -> item 0 (30; tie with item 2 goes to the lower id)
    assert long_tail_items(pop).tolist() == [False, True, True, True, True]
    # share 0.5: 50 needed -> items 0, 2 (60)
    assert long_tail_items(pop, long_tail_share=0.5).tolist() == [False, True, False, True, True]
    # share 0.4: 60 needed -> items 0, 2 reach exactly 60
    assert long_tail_items(pop, long_tail_share=0.4).tolist() == [False, True, False, True, True]
    assert long_tail_items(pop, long_tail_share=1.0).all()


def test_gini() -> None:
    assert gini(np.array([3, 3, 3])) == 0.0
    assert gini(np.array([0, 0, 0, 7])) == pytest.approx(3 / 4)
    assert gini(np.zeros(3)) == 0.0


def test_popularity_bias_hand_case() -> None:
    # popularity total 100; head = {0} (50 >= 20); tail = {1, ..., 5}
    pop = np.array([50, 30, 10, 5, 5, 0])
    topk = np.array([[0, 1, 4], [0, 2, 4], [3, 1, 4]])  # third column cut off by k = 2
    got = popularity_bias(topk, pop, k=2)
    # user means: (50+30)/2 = 40, (50+10)/2 = 30, (5+30)/2 = 17.5 -> 87.5 / 3
    assert got["avg_popularity"] == pytest.approx(87.5 / 3)
    # slots 0 1 | 0 2 | 3 1: tail items 1, 2, 3, 1 -> 4 of 6
    assert got["long_tail_share"] == pytest.approx(4 / 6)
    # exposure [2, 2, 1, 1, 0, 0] sorted [0 0 1 1 2 2], weights 2i-7 = -5 -3 -1 1 3 5:
    # (-1 + 1 + 6 + 10) / (6 * 6) = 16 / 36
    assert got["gini"] == pytest.approx(16 / 36)
    assert got["coverage"] == pytest.approx(4 / 6)
