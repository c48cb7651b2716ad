"""Recall@K on a randomly exposed test set estimates fully-exposed Recall@K without bias.

A user's fully-exposed positives P_u are what a fully observed matrix would hold; random exposure
reveals a uniformly random part of them. Given that n >= 1 of them are revealed, every n-subset
of P_u is equally likely, so the share of revealed positives that the model puts in its top K of
the whole catalogue has expectation |top K ∩ P_u| / |P_u|: the fully-exposed Recall@K. The suite
computes exactly that share (every item outside the user's training data is ranked; the test
positives are the denominator; docs/data-sources.md). The usual scheme ranks only the items the
user was exposed to, and its Recall@K does not estimate the fully-exposed value.

This checks both statements by simulation on a small fully observed matrix, against the
suite's own `top_k` and `evaluate`, with a fixed seed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from dice.data.interactions import Interactions
from dice.evaluate import evaluate, top_k

N_USERS, N_ITEMS, K, EXPOSURE, DRAWS = 30, 80, 10, 0.25, 1500


def _recall(topk: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    truth = Interactions(rows.astype(np.int64), cols.astype(np.int64), N_USERS, N_ITEMS)
    return evaluate(topk, truth, ks=[K]).per_user[f"recall@{K}"].to_numpy()


def test_recall_on_random_exposure_is_unbiased_for_fully_exposed_recall():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(N_USERS, N_ITEMS))
    # preferences correlated with the scores, so that recall is neither 0 nor 1
    positive = scores + rng.normal(scale=1.0, size=scores.shape) > 1.0
    positive[np.arange(N_USERS), rng.integers(N_ITEMS, size=N_USERS)] = True
    table = torch.from_numpy(scores)
    topk = top_k(lambda users: table[users], n_users=N_USERS,
                 exclude=sp.csr_matrix((N_USERS, N_ITEMS)), k=K)  # fmt: skip
    full = _recall(topk, *np.nonzero(positive))

    sums, squares, counts = np.zeros(N_USERS), np.zeros(N_USERS), np.zeros(N_USERS)
    usual = np.zeros(N_USERS)  # the usual scheme: rank only the exposed items
    for _ in range(DRAWS):
        exposed = rng.random(positive.shape) < EXPOSURE
        observed = positive & exposed
        recall = _recall(topk, *np.nonzero(observed))
        has = observed.any(axis=1)
        sums[has] += recall[has]
        squares[has] += recall[has] ** 2
        counts[has] += 1
        masked = np.where(exposed, scores, -np.inf)
        top_exposed = np.argsort(-masked, axis=1, kind="stable")[:, :K]
        hits = np.take_along_axis(observed, top_exposed, axis=1).sum(axis=1)
        usual[has] += hits[has] / observed.sum(axis=1)[has]

    assert counts.min() > DRAWS / 4  # every user had revealed positives often enough
    mean = sums / counts
    se = np.sqrt(np.maximum(squares / counts - mean**2, 1e-12) / counts)
    assert np.all(np.abs(mean - full) <= 5 * se + 1e-9), np.abs(mean - full) / se
    usual_mean = usual / counts
    # ranking only the exposed items inflates recall far beyond its standard error
    assert np.mean(usual_mean - full > 10 * se) > 0.8
