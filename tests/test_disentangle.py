"""Disentanglement scores: ranks, oracles, hand-computed counterfactual metrics, table, figure."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from dice.data import synthetic
from dice.data.interactions import Interactions
from dice.disentangle import average_ranks, disentanglement_scores, scorers_of, spearman_rows
from dice.plots import disentanglement as plot_disentanglement
from dice.report import disentanglement_display as disentanglement_table
from dice.report import disentanglement_rows
from dice.seeding import numpy_rng

# --- ranks and Spearman against scipy --------------------------------------------------------

small_ints = hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 9)),
                        elements=st.integers(-3, 3).map(float))  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(small_ints)
def test_average_ranks_match_scipy_rankdata(x):
    np.testing.assert_allclose(average_ranks(x), stats.rankdata(x, axis=1) - 1)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_spearman_rows_match_scipy_on_the_kept_entries(data):
    x = data.draw(small_ints)
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.integers(-3, 3).map(float)))
    keep = data.draw(hnp.arrays(np.bool_, x.shape))
    got = spearman_rows(x, y, keep=keep)
    for row in range(x.shape[0]):
        a, b = x[row][keep[row]], y[row][keep[row]]
        if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
            assert np.isnan(got[row])  # undefined: a constant ranking
        else:
            assert got[row] == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)


def test_spearman_hand_case():
    # x ranks (0, 1, 2, 3), y ranks (1, 0, 2, 3): d = (1, 1, 0, 0), rho = 1 - 6 * 2 / (4 * 15)
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    y = np.array([[20.0, 10.0, 30.0, 40.0]])
    assert spearman_rows(x, y)[0] == pytest.approx(0.8)
    # dropping the first entry leaves identical orders
    assert spearman_rows(x, y, keep=np.array([[False, True, True, True]]))[0] == pytest.approx(1.0)


# --- scores of oracle and hand-made scorers --------------------------------------------------


@pytest.fixture(scope="module")
def simulated():
    frame, truth = synthetic.generate_with_truth({"preset": "tiny"}, rng=numpy_rng(0, "synthetic"))
    train = Interactions.from_frame(frame, n_users=truth.n_users, n_items=truth.n_items)
    clicks = synthetic.counterfactual_clicks(truth, rng=numpy_rng(0, "cf"), per_user=10,
                                             exclude=train.csr())  # fmt: skip
    counterfactual = Interactions.from_frame(clicks, n_users=truth.n_users, n_items=truth.n_items)
    return truth, train.csr(), counterfactual


def oracle(truth, part):
    return lambda users: torch.from_numpy(getattr(truth, part)(users.numpy()))


def scores_for(simulated, interest, conformity, full, **options):
    truth, exclude, counterfactual = simulated
    return disentanglement_scores(interest_scorer=interest, conformity_scorer=conformity,
                                  full_scorer=full, truth=truth, counterfactual=counterfactual,
                                  exclude=exclude, **options)  # fmt: skip


def test_oracle_recovers_the_planted_interest_and_conformity(simulated):
    truth, exclude, _ = simulated
    interest, conformity = oracle(truth, "interest"), oracle(truth, "conformity")
    scores = scores_for(simulated, interest, conformity,
                        lambda u: interest(u) + conformity(u), batch_size=64)  # fmt: skip
    assert scores["interest_rank_corr"] == pytest.approx(1.0, abs=1e-12)
    assert scores["conformity_rank_corr"] == pytest.approx(1.0, abs=1e-12)
    assert scores["full_rank_corr"] < 0.99  # the full score mixes in conformity
    # leakage = the true interest/conformity correlation, by scipy over non-training items
    keep = exclude.toarray() == 0
    users = np.arange(truth.n_users)
    expected = np.mean([stats.spearmanr(truth.interest(users)[u][keep[u]],
                                        truth.conformity(users)[u][keep[u]]).statistic
                        for u in users])  # fmt: skip
    assert scores["interest_conformity_rank_corr"] == pytest.approx(expected, abs=1e-10)
    assert scores["users"] == truth.n_users
    # the counterfactual clicks follow interest only: adding conformity can only hurt
    assert scores["counterfactual_interest_recall@20"] >= scores["counterfactual_recall@20"]
    popularity = scores_for(simulated, conformity, None, conformity)
    assert popularity["counterfactual_recall@20"] < 0.3 * scores["counterfactual_recall@20"]


def test_reversed_entangled_and_constant_scorers(simulated):
    truth = simulated[0]
    negated = lambda u: -oracle(truth, "interest")(u)  # noqa: E731
    scores = scores_for(simulated, negated, None, negated)
    assert scores["interest_rank_corr"] == pytest.approx(-1.0, abs=1e-12)
    assert scores["conformity_rank_corr"] is None  # an entangled model has no conformity score
    assert scores["counterfactual_recall@20"] == scores["counterfactual_interest_recall@20"]
    flat = lambda u: torch.zeros(len(u), truth.n_items)  # noqa: E731
    assert scores_for(simulated, flat, flat, flat)["interest_rank_corr"] is None


def test_training_items_do_not_count(simulated):
    """A scorer right on every non-training item and wrong on training items scores 1."""
    truth, exclude, _ = simulated
    train = torch.from_numpy(exclude.toarray() > 0)

    def scorer(users):
        true = oracle(truth, "interest")(users)
        return torch.where(train[users], -true, true)

    assert scores_for(simulated, scorer, None, scorer)["interest_rank_corr"] == pytest.approx(1.0)


def hand_truth() -> synthetic.GroundTruth:
    return synthetic.GroundTruth(
        user_interest=np.array([[1.0], [-1.0]]),  # user 0 likes high ids... see item_interest
        item_interest=np.array([[5.0], [4.0], [3.0], [2.0], [1.0]]),
        user_conformity=np.zeros((2, 1)),
        item_group=np.zeros(5, np.int64),
        log_popularity=np.zeros(5),
        noise_std=0.0,
        exposure_per_user=5,
    )


def test_counterfactual_metrics_by_hand():
    """User 0 ranks 0 > 1 > 2 > 3 > 4 with item 0 excluded: top-2 = [1, 2], truth {2, 4}:
    recall 1/2, hr 1, ndcg = (1 / log2 3) / (1 + 1 / log2 3). User 1 ranks 4 > 3 > ...:
    top-2 = [4, 3], truth {0}: all 0. Means over the two users with truth."""
    truth = hand_truth()
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    held_out = Interactions(np.array([0, 0, 1]), np.array([2, 4, 0]), 2, 5)
    scorer = lambda u: torch.from_numpy(truth.interest(u.numpy()))  # noqa: E731
    scores = disentanglement_scores(interest_scorer=scorer, conformity_scorer=None,
                                    full_scorer=scorer, truth=truth, counterfactual=held_out,
                                    exclude=exclude, k=2)  # fmt: skip
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert scores["counterfactual_recall@2"] == pytest.approx(0.25)
    assert scores["counterfactual_hr@2"] == pytest.approx(0.5)
    assert scores["counterfactual_ndcg@2"] == pytest.approx(ndcg0 / 2)
    only_one = disentanglement_scores(interest_scorer=scorer, conformity_scorer=None,
                                      full_scorer=scorer, truth=truth, counterfactual=held_out,
                                      exclude=exclude, k=2, users=np.array([1]))  # fmt: skip
    assert only_one["users"] == 1 and only_one["counterfactual_hr@2"] == 0.0
    assert only_one["interest_rank_corr"] == pytest.approx(1.0)


def test_scorers_of_a_recommender():
    class Fake:
        def __init__(self, scorings):
            self.scorings = scorings

        def scorer(self, mode):
            return mode

    assert scorers_of(Fake(("full",))) == {"full_scorer": "full", "interest_scorer": "full",
                                           "conformity_scorer": None}  # fmt: skip
    dice = scorers_of(Fake(("full", "interest", "conformity")))
    assert dice == {"full_scorer": "full", "interest_scorer": "interest",
                    "conformity_scorer": "conformity"}  # fmt: skip


# --- table and figure ------------------------------------------------------------------------


def results_frame() -> pd.DataFrame:
    rows = []
    for method, base in (("dice", 0.8), ("bias-ui", 0.5)):
        for strength in (0.0, 1.0, 2.0):
            for seed, noise in ((0, -0.02), (1, 0.02)):
                scores = {"users": 10, "interest_rank_corr": base - 0.1 * strength + noise,
                          "conformity_rank_corr": 0.9 if method == "dice" else None}  # fmt: skip
                rows += disentanglement_rows(scores, dataset="synthetic", method=method,
                                             backbone="mf", strength=strength, seed=seed)  # fmt: skip
    return pd.DataFrame(rows)


def test_rows_drop_missing_values_and_the_user_count():
    rows = disentanglement_rows({"users": 3, "a": 0.5, "b": None}, dataset="d")
    assert rows == [{"dataset": "d", "metric": "a", "value": 0.5}]


def test_table_averages_over_seeds():
    table = disentanglement_table(results_frame())
    row = table[(table.method == "dice") & (table.strength == 1.0)].iloc[0]
    assert row["interest_rank_corr"] == pytest.approx(0.7)  # (0.68 + 0.72) / 2
    assert row["interest_rank_corr sd"] == pytest.approx(math.sqrt(2 * 0.02**2))  # n - 1 = 1
    assert row["n"] == 2 and len(table) == 6
    bias = table[table.method == "bias-ui"]
    assert bias["conformity_rank_corr"].isna().all()


def test_figure_has_a_panel_per_metric_and_distinct_lines():
    fig = plot_disentanglement(results_frame())
    axes = fig.get_axes()
    assert len(axes) == 2  # one dataset x (interest, conformity) present of the plotted metrics
    lines = [li for li in axes[0].get_lines() if not li.get_label().startswith("_")]
    assert len(lines) == 2 and len({(li.get_marker(), li.get_linestyle()) for li in lines}) == 2
    assert lines[0].get_xdata().tolist() == sorted(results_frame()["strength"].unique())
    fig.savefig(io.BytesIO(), format="png")
