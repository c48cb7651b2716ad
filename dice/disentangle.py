"""Disentanglement scores on simulated data, where the causes of every click are known
(docs/simulator.md).

Real data only shows clicks; the simulator (`dice.data.synthetic`) also knows each user's true
interest and conformity towards every item, so three questions the paper can only approach by
proxy (DICE §4.3: IOU with ItemPop, t-SNE) get direct answers:

* does a model's interest score rank items like the true interest does? (per-user Spearman rank
  correlation, averaged over users; DICE-int for DICE, the full score for entangled models);
* does its conformity score rank items like the true conformity? (DICE-con; None otherwise);
* does it recommend what users would click with conformity switched off? (Recall/HR/NDCG@k on
  the interest-only counterfactual test, `dice.data.synthetic.counterfactual_clicks`).

Correlations are taken over each user's NON-TRAINING items: the items the evaluation ranks
(docs/protocol.md#evaluation), so memorised training clicks neither help nor hurt. Ties get average ranks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import NDArray
from torch import Tensor

from dice.data.interactions import Interactions
from dice.data.synthetic import GroundTruth
from dice.evaluate import evaluate, top_k

Scorer = Callable[[Tensor], Tensor]


def scorers_of(model) -> dict[str, Scorer | None]:
    """The keyword scorers of `disentanglement_scores` for a `Recommender`."""
    full = model.scorer("full")
    return {
        "full_scorer": full,
        "interest_scorer": model.scorer("interest") if "interest" in model.scorings else full,
        "conformity_scorer": model.scorer("conformity") if "conformity" in model.scorings else None,
    }


@torch.no_grad()
def disentanglement_scores(
    *,
    interest_scorer: Scorer,
    conformity_scorer: Scorer | None,
    full_scorer: Scorer,
    truth: GroundTruth,
    counterfactual: Interactions,
    exclude: sp.csr_matrix,
    users: NDArray[np.integer] | None = None,
    k: int = 20,
    batch_size: int = 1024,
    device: str | torch.device = "cpu",
) -> dict[str, float | int | None]:
    """Rank correlations with the true causes and accuracy on the counterfactual test.

    Args:
        interest_scorer: user ids (B,) -> (B, I) interest scores (the full scorer if entangled).
        conformity_scorer: the same for conformity; None for models without one.
        full_scorer: the model's recommendation score.
        truth: the ground truth in the split's index space (`GroundTruth.reindex`).
        counterfactual: interest-only clicks (`counterfactual_clicks`), the truth's indices.
        exclude: (U, I) training matrix; its items are left out of correlations and rankings.
        users: the users to score (default: all); a sample makes large datasets cheaper.
        k: cut-off of the counterfactual metrics.

    Returns:
        ``users``; ``interest_rank_corr`` (model interest vs true interest),
        ``full_rank_corr`` (full score vs true interest), ``interest_conformity_rank_corr``
        (model interest vs true conformity: leakage, ideally 0), ``conformity_rank_corr``
        (None without a conformity scorer); ``counterfactual_{recall,hr,ndcg}@k`` of the full
        score and ``counterfactual_interest_{...}@k`` of the interest score. Correlations are
        means over users whose rankings are not constant (None if there is none).
    """
    users = np.arange(truth.n_users) if users is None else np.asarray(users, np.int64)
    exclude = sp.csr_matrix(exclude)[users]
    corr = _correlations(interest_scorer, conformity_scorer, full_scorer, truth, users,
                         exclude, batch_size=batch_size, device=device)  # fmt: skip
    scores: dict[str, float | int | None] = {"users": len(users)}
    scores |= {name: _mean(values) for name, values in corr.items()}
    scores.setdefault("conformity_rank_corr", None)
    held_out = _rows(counterfactual, users)
    accuracy = {}
    for prefix, scorer in (("counterfactual_", full_scorer),
                           ("counterfactual_interest_", interest_scorer)):  # fmt: skip
        if id(scorer) not in accuracy:
            ranked = top_k(_subset(scorer, users, device), n_users=len(users), exclude=exclude,
                           k=k, batch_size=batch_size, device=device)  # fmt: skip
            accuracy[id(scorer)] = evaluate(ranked, held_out, ks=(k,)).averages["users_with_truth"]
        scores |= {prefix + name: value for name, value in accuracy[id(scorer)].items()}
    return scores


def _correlations(interest, conformity, full, truth, users, exclude, *, batch_size, device):
    """Per-user Spearman correlations, one (U,) array per score name."""
    scorers = {"interest": interest, "full": full, "conformity": conformity}
    pairs = {"interest_rank_corr": ("interest", "true_interest"),
             "full_rank_corr": ("full", "true_interest"),
             "interest_conformity_rank_corr": ("interest", "true_conformity")}  # fmt: skip
    if conformity is not None:
        pairs["conformity_rank_corr"] = ("conformity", "true_conformity")
    out: dict[str, list[NDArray]] = {name: [] for name in pairs}
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        ids = torch.from_numpy(batch).to(device)
        keep = exclude[start : start + len(batch)].toarray() == 0  # (B, I)
        ranks = {"true_interest": _centred_ranks(truth.interest(batch), keep),
                 "true_conformity": _centred_ranks(truth.conformity(batch), keep)}  # fmt: skip
        by_scorer: dict[int, tuple] = {}  # an entangled model's interest scorer is its full one
        for name, scorer in scorers.items():
            if scorer is not None and id(scorer) not in by_scorer:
                by_scorer[id(scorer)] = _centred_ranks(_numpy(scorer(ids)), keep)
            ranks[name] = by_scorer.get(id(scorer))
        for name, (model, real) in pairs.items():
            out[name].append(_pearson(ranks[model], ranks[real]))
    return {name: np.concatenate(parts) for name, parts in out.items()}


def _numpy(scores: Tensor) -> NDArray:
    return scores.detach().cpu().numpy()


def spearman_rows(x: NDArray, y: NDArray, *, keep: NDArray[np.bool_] | None = None) -> NDArray:
    """(B,) Spearman correlation of each row of `x` with the same row of `y`.

    Only the entries where `keep` is True count; ties get average ranks (as
    ``scipy.stats.spearmanr``); a row whose kept entries are constant in `x` or `y` gives NaN.
    """
    keep = np.ones(np.shape(x), bool) if keep is None else keep
    return _pearson(_centred_ranks(x, keep), _centred_ranks(y, keep))


def _centred_ranks(x: NDArray, keep: NDArray[np.bool_]) -> tuple[NDArray, NDArray]:
    """Ranks among the kept entries minus their mean (0 elsewhere), and each row's norm."""
    ranks = average_ranks(np.where(keep, x, np.inf))  # excluded entries last; kept ones 0..n-1
    ranks -= (keep.sum(axis=1, keepdims=True) - 1) / 2.0  # the mean rank of the kept entries
    ranks *= keep  # (B, I)
    return ranks, np.sqrt(np.einsum("bi,bi->b", ranks, ranks))


def _pearson(a: tuple[NDArray, NDArray], b: tuple[NDArray, NDArray]) -> NDArray:
    denom = a[1] * b[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.einsum("bi,bi->b", a[0], b[0]) / denom, np.nan)


def average_ranks(x: NDArray) -> NDArray[np.float64]:
    """(B, I) 0-based ranks within each row, tied values sharing their average rank.

    +inf entries (how `spearman_rows` pushes excluded items last) are not averaged.
    """
    n_rows, n_cols = x.shape
    order = np.argsort(x, axis=1)  # ties in any order: they all get their average below
    flat = (order + n_cols * np.arange(n_rows)[:, None]).ravel()  # sorted -> flat position
    out = np.empty(x.size, np.float64)
    out[flat] = np.tile(np.arange(n_cols, dtype=np.float64), n_rows)  # rank = sorted position
    values = np.take(x, flat).reshape(x.shape)  # (B, I) each row sorted
    repeats = np.zeros(x.shape, bool)  # sorted position j repeats the value at j - 1
    np.equal(values[:, 1:], values[:, :-1], out=repeats[:, 1:])
    repeats &= values != np.inf
    if repeats.any():  # only the members of tied runs are touched
        member = repeats.copy()
        member[:, :-1] |= repeats[:, 1:]
        where = np.flatnonzero(member)  # row-major: each run is contiguous
        starts = ~repeats.ravel()[where]
        run = np.cumsum(starts) - 1
        mean_rank = where[starts] % n_cols + (np.bincount(run) - 1) / 2.0
        out[flat[where]] = mean_rank[run]
    return out.reshape(x.shape)


def _mean(values: NDArray[np.float64]) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def _subset(scorer: Scorer, users: NDArray[np.int64], device) -> Scorer:
    ids = torch.from_numpy(users).to(device)
    return lambda rows: scorer(ids[rows])


def _rows(part: Interactions, users: NDArray[np.int64]) -> Interactions:
    """The records of `users`, renumbered 0..len(users)-1 in that order."""
    coo = part.csr()[users].tocoo()
    return Interactions(coo.row.astype(np.int64), coo.col.astype(np.int64), len(users),
                        part.n_items)  # fmt: skip
