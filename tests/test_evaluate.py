"""Full-ranking top-k (masking, deterministic ties), hit lookup and the evaluate() result."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from dice.data.interactions import Interactions
from dice.evaluate import evaluate, hits_matrix, top_k, topk_frame
from dice.seeding import numpy_rng


def slow_top_k(scores: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """Reference: per user, a full stable sort by (-score, item id) after masking."""
    out = []
    for row, banned in zip(scores, exclude, strict=True):
        masked = np.where(banned, -np.inf, row)
        out.append(np.lexsort((np.arange(len(row)), -masked))[:k])
    return np.array(out, dtype=np.int64)


def random_case(seed: int, n_users: int = 37, n_items: int = 23) -> tuple[np.ndarray, np.ndarray]:
    rng = numpy_rng(seed, "test-topk")
    scores = rng.integers(0, 4, size=(n_users, n_items)).astype(np.float32)  # many ties
    scores[1::3] = rng.random((len(scores[1::3]), n_items))  # and rows without ties
    exclude = rng.random((n_users, n_items)) < 0.3
    exclude[0] = np.arange(n_items) < n_items - 3  # user 0: 3 allowed items; -inf fills by id
    return scores, exclude


def run_top_k(scores: np.ndarray, exclude: np.ndarray, k: int, batch_size: int) -> np.ndarray:
    table = torch.from_numpy(scores)
    return top_k(
        lambda users: table[users],
        n_users=len(scores),
        exclude=sp.csr_matrix(exclude),
        k=k,
        batch_size=batch_size,
    )


@pytest.mark.parametrize(("seed", "k", "batch_size"), [(0, 5, 8), (1, 10, 1), (2, 23, 100)])
def test_top_k_equals_slow_reference(seed: int, k: int, batch_size: int) -> None:
    scores, exclude = random_case(seed)
    got = run_top_k(scores, exclude, k, batch_size)
    assert got.dtype == np.int64 and got.shape == (len(scores), k)
    np.testing.assert_array_equal(got, slow_top_k(scores, exclude, k))


def test_top_k_never_returns_excluded_items() -> None:
    scores, exclude = random_case(3)
    k = 5
    got = run_top_k(scores, exclude, k, 16)
    allowed = (~exclude).sum(axis=1)
    for u, row in enumerate(got):
        n_ok = min(k, allowed[u])
        assert not exclude[u, row[:n_ok]].any()
    # user 0: its 3 allowed items (20, 21, 22) first, then excluded ones by ascending id
    assert sorted(got[0, :3].tolist()) == [20, 21, 22]
    assert got[0, 3:].tolist() == [0, 1]


def test_top_k_ties_go_to_lower_ids() -> None:
    # all scores equal except item 4 -> [4, then 0, 1, 2, ...] whatever torch.topk picks
    scores = np.zeros((2, 9), dtype=np.float32)
    scores[:, 4] = 1.0
    exclude = np.zeros_like(scores, dtype=bool)
    exclude[1, 1] = True
    got = run_top_k(scores, exclude, 4, 2)
    assert got.tolist() == [[4, 0, 1, 2], [4, 0, 2, 3]]


def test_top_k_leaves_caller_scores_alone_and_rejects_nan() -> None:
    scores, exclude = random_case(4)
    table = torch.from_numpy(scores.copy())
    top_k(lambda users: table[: len(users)], n_users=8, exclude=sp.csr_matrix(exclude[:8]), k=3)
    assert torch.equal(table, torch.from_numpy(scores))  # a view was returned, not modified
    table[2, np.flatnonzero(~exclude[2])[0]] = torch.nan  # NaN on an excluded item is masked
    with pytest.raises(ValueError, match="NaN"):
        top_k(lambda users: table[users], n_users=8, exclude=sp.csr_matrix(exclude[:8]), k=3)


def test_hits_matrix() -> None:
    truth = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]]))
    topk = np.array([[1, 2], [0, 3], [0, 1]])
    # user 0: item 1 in truth, 2 not; user 1: no truth; user 2: item 0 in truth
    assert hits_matrix(topk, truth).tolist() == [[True, False], [False, False], [True, False]]
    assert not hits_matrix(topk, sp.csr_matrix((3, 4))).any()


def test_evaluate_end_to_end() -> None:
    # 3 users, 6 items, lists of 2, k = 1 and 2
    # user 0: truth {0, 3, 3 (duplicate record)} -> n = 2; list [3, 5] -> hits [1, 0]
    #   @1: recall 1/2, hr 1, ndcg 1/1 = 1; @2: recall 1/2, hr 1, ndcg 1 / (1 + 1/log2 3)
    # user 1: no truth -> 0; user 2: truth {4}; list [1, 4] -> hits [0, 1]
    #   @1: all 0; @2: recall 1, hr 1, ndcg (1/log2 3) / 1
    truth = Interactions(np.array([0, 0, 0, 2]), np.array([0, 3, 3, 4]), n_users=3, n_items=6)
    topk = np.array([[3, 5], [0, 1], [1, 4]])
    result = evaluate(topk, truth, ks=(1, 2))
    frame = result.per_user
    assert frame["user"].tolist() == [0, 1, 2]
    assert frame["n_truth"].tolist() == [2, 0, 1]
    inv = 1 / np.log2(3)
    np.testing.assert_allclose(frame["recall@2"], [0.5, 0, 1])
    np.testing.assert_allclose(frame["ndcg@1"], [1, 0, 0])
    np.testing.assert_allclose(frame["ndcg@2"], [1 / (1 + inv), 0, inv])
    standard, official = result.averages["users_with_truth"], result.averages["all_users"]
    assert standard["recall@2"] == pytest.approx(1.5 / 2)
    assert official["recall@2"] == pytest.approx(1.5 / 3)
    assert standard["hr@1"] == pytest.approx(1 / 2)
    assert official["ndcg@2"] == pytest.approx((1 / (1 + inv) + inv) / 3)


def test_topk_frame() -> None:
    frame = topk_frame(np.array([[7, 3], [2, 9]]))
    assert list(frame.columns) == ["user", "rank", "item"]
    assert all(dtype == np.int64 for dtype in frame.dtypes)
    assert frame.to_numpy().tolist() == [[0, 0, 7], [0, 1, 3], [1, 0, 2], [1, 1, 9]]
