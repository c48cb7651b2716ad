"""The simulator's ground truth, counterfactual test, presets and conformity knobs.

The simulator is described in docs/simulator.md."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats

from dice.data import synthetic
from dice.data.interactions import Interactions
from dice.data.preprocess import PreprocessConfig, preprocess
from dice.data.splits import intervened_split, split_statistics
from dice.errors import DiceError
from dice.seeding import numpy_rng


def simulate(params: dict, seed: int = 0):
    return synthetic.generate_with_truth(params, rng=numpy_rng(seed, "synthetic"))


def truth_arrays(truth: synthetic.GroundTruth) -> dict:
    return {name: getattr(truth, name) for name in synthetic.GroundTruth.__dataclass_fields__}


def assert_same_truth(a: synthetic.GroundTruth, b: synthetic.GroundTruth) -> None:
    for name, value in truth_arrays(a).items():
        np.testing.assert_array_equal(value, getattr(b, name), err_msg=name)


# --- determinism and the meaning of the ground truth -----------------------------------------


def test_generator_and_counterfactual_are_deterministic_per_seed():
    frame, truth = simulate({"preset": "tiny"}, seed=1)
    again, truth_again = simulate({"preset": "tiny"}, seed=1)
    pd.testing.assert_frame_equal(frame, again)
    assert_same_truth(truth, truth_again)
    other, other_truth = simulate({"preset": "tiny"}, seed=2)
    assert not frame.equals(other)
    assert not np.array_equal(truth.user_interest, other_truth.user_interest)
    pd.testing.assert_frame_equal(frame, synthetic.generate({"preset": "tiny"},
                                                            rng=numpy_rng(1, "synthetic")))  # fmt: skip
    draw = [synthetic.counterfactual_clicks(truth, rng=numpy_rng(s, "cf"), per_user=5)
            for s in (0, 0, 1)]  # fmt: skip
    pd.testing.assert_frame_equal(draw[0], draw[1])
    assert not draw[0].equals(draw[2])


def test_truth_scores_follow_their_formulas():
    _, truth = simulate({"preset": "tiny"})
    users = np.array([0, 7, 299])
    # interest = <u, i> with scale folded into u; conformity = c_{u, g(i)} * p_i (module docstring)
    expected_int = np.array([[truth.user_interest[u] @ truth.item_interest[i]
                              for i in range(truth.n_items)] for u in users])  # fmt: skip
    expected_con = np.array([[truth.user_conformity[u, truth.item_group[i]]
                              * truth.log_popularity[i] for i in range(truth.n_items)]
                             for u in users])  # fmt: skip
    np.testing.assert_allclose(truth.interest(users), expected_int, rtol=1e-12)
    np.testing.assert_allclose(truth.conformity(users), expected_con, rtol=1e-12)
    items = np.array([[3, 4], [5, 199], [0, 0]])
    np.testing.assert_allclose(truth.interest_at(users[:, None], items),
                               np.take_along_axis(expected_int, items, 1), rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(truth.conformity_at(users[:, None], items),
                               np.take_along_axis(expected_con, items, 1), rtol=1e-12)  # fmt: skip
    assert abs(truth.log_popularity.mean()) < 1e-12  # centred


def test_clicks_are_caused_by_the_planted_interest_and_conformity():
    """Clicked pairs have higher true interest and conformity than random pairs (mean ~0)."""
    frame, truth = simulate({"preset": "small"})
    users, items = frame.user.to_numpy(), frame.item.to_numpy()
    rng = numpy_rng(0, "test")
    rand_u = rng.integers(truth.n_users, size=len(frame))
    rand_i = rng.integers(truth.n_items, size=len(frame))
    clicked_int = truth.interest_at(users, items).mean()
    assert clicked_int > 1.0 > abs(truth.interest_at(rand_u, rand_i).mean()) * 10
    assert (
        truth.conformity_at(users, items).mean() > truth.conformity_at(rand_u, rand_i).mean() + 0.15
    )


def test_reindexed_truth_matches_the_original_ids_after_preprocessing(tmp_path):
    frame, truth = simulate({"preset": "tiny"})
    prepared = preprocess(frame, PreprocessConfig(), rng=numpy_rng(0, "prepare"))
    new = truth.reindex(prepared.user_ids, prepared.item_ids)
    inter = prepared.interactions
    orig_u, orig_i = prepared.user_ids[inter.user], prepared.item_ids[inter.item]
    np.testing.assert_array_equal(new.interest_at(inter.user, inter.item),
                                  truth.interest_at(orig_u, orig_i))  # fmt: skip
    np.testing.assert_array_equal(new.conformity(np.array([2]))[0],
                                  truth.conformity(prepared.user_ids[[2]])[0, prepared.item_ids])  # fmt: skip
    assert (new.n_users, new.n_items) == (inter.n_users, inter.n_items)
    new.save(tmp_path / "truth.npz")
    assert_same_truth(synthetic.GroundTruth.load(tmp_path / "truth.npz"), new)
    with pytest.raises(DiceError, match="ids must lie"):
        truth.reindex(np.array([truth.n_users]), np.arange(3))


def test_loading_a_missing_or_broken_truth_is_one_line_error(tmp_path):
    with pytest.raises(DiceError, match="missing"):
        synthetic.GroundTruth.load(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DiceError, match="cannot read"):
        synthetic.GroundTruth.load(tmp_path / "bad.npz")
    _, truth = simulate({"preset": "tiny"})
    arrays = truth_arrays(truth) | {"item_group": truth.item_group[:5]}
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(DiceError, match="inconsistent shapes"):
        synthetic.GroundTruth.load(tmp_path / "shape.npz")


# --- the counterfactual test -----------------------------------------------------------------


def test_counterfactual_test_has_no_conformity_effect():
    """do(conformity = 0) + uniform exposure: item counts are uncorrelated with conformity.

    The observational clicks of the same truth are strongly correlated with it, which shows
    the check can fail; a strong conformity (strength 3) must not leak into the counterfactual.
    """
    frame, truth = simulate({"preset": "small", "conformity_strength": 3.0})
    clicks = synthetic.counterfactual_clicks(truth, rng=numpy_rng(0, "cf"), per_user=30)
    mean_conformity = truth.user_conformity.mean(axis=0)[truth.item_group] * truth.log_popularity
    observed = np.bincount(frame.item, minlength=truth.n_items)
    counterfactual = np.bincount(clicks.item, minlength=truth.n_items)
    assert stats.spearmanr(observed, mean_conformity).statistic > 0.6
    assert abs(stats.spearmanr(counterfactual, mean_conformity).statistic) < 0.1
    assert abs(stats.spearmanr(counterfactual, truth.log_popularity).statistic) < 0.1
    # per click: the true conformity of clicked items is that of a random item of the user
    users, items = clicks.user.to_numpy(), clicks.item.to_numpy()
    baseline = truth.conformity(np.arange(truth.n_users)).mean(axis=1)[users]
    assert abs((truth.conformity_at(users, items) - baseline).mean()) < 0.05
    assert truth.interest_at(users, items).mean() > 1.0  # interest still drives the clicks


def test_counterfactual_respects_exclusion_and_per_user_counts():
    _, truth = simulate({"preset": "tiny"})
    n_users, n_items = truth.n_users, truth.n_items
    rng = numpy_rng(0, "test")
    blocked = rng.random((n_users, n_items)) < 0.5
    blocked[0] = False  # user 0 may click anything
    blocked[1] = True  # user 1 has 3 allowed items, fewer than asked
    blocked[1, [4, 9, 11]] = False
    exclude = sp.csr_matrix(blocked.astype(np.float32))
    wanted = np.full(n_users, 20)
    wanted[2] = 0
    clicks = synthetic.counterfactual_clicks(truth, rng=rng, per_user=wanted, exclude=exclude)
    assert [str(t) for t in clicks.dtypes] == ["int64", "int64"]
    assert not clicks.duplicated().any()
    assert exclude[clicks.user.to_numpy(), clicks.item.to_numpy()].sum() == 0
    per_user = np.bincount(clicks.user, minlength=n_users)
    assert per_user[0] == 20 and per_user[2] == 0
    assert sorted(clicks.item[clicks.user == 1]) == [4, 9, 11]
    keys = clicks.user.to_numpy() * n_items + clicks.item.to_numpy()
    assert (np.diff(keys) > 0).all()  # sorted by user then item


def test_expose_draws_without_replacement_like_successive_sampling():
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    p = weights / weights.sum()
    # P(i among 2 successive draws without replacement) = p_i + sum_{j != i} p_j p_i / (1 - p_j)
    exact = [p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(4) if j != i) for i in range(4)]
    rows = 40_000
    drawn = synthetic.expose(1 / weights, rows, 2, rng=numpy_rng(0, "test"))
    assert drawn.shape == (rows, 2) and (drawn[:, 0] < drawn[:, 1]).all()  # distinct, sorted
    freq = np.bincount(drawn.ravel(), minlength=4) / rows
    np.testing.assert_allclose(freq, exact, atol=0.01)
    blocked = synthetic.expose(np.array([1.0, np.inf, 1.0, np.inf]), 100, 2, rng=numpy_rng(1, "t"))
    assert (blocked == [0, 2]).all()


# --- conformity: strength knob and the scalar-bias failure case ------------------------------


def test_conformity_strength_scales_only_the_conformity():
    """Same seed: every other draw is shared, so strength s gives exactly s x the c_ug."""
    _, base = simulate({"preset": "tiny"})
    for strength in (0.0, 2.0):
        _, scaled = simulate({"preset": "tiny", "conformity_strength": strength})
        np.testing.assert_array_equal(scaled.user_interest, base.user_interest)
        np.testing.assert_allclose(scaled.user_conformity, strength * base.user_conformity)


def test_stronger_conformity_skews_the_training_data_more():
    entropies = []
    for strength in (0.0, 0.5, 1.0, 2.0):  # 0: no conformity at all
        frame, _ = simulate({"preset": "small", "conformity_strength": strength})
        counts = np.bincount(frame.item)
        entropies.append(stats.entropy(counts[counts > 0]))
    assert all(a > b + 0.02 for a, b in zip(entropies, entropies[1:], strict=False))


def rank_agreement_with_one_item_order(truth: synthetic.GroundTruth) -> float:
    """Mean per-user Spearman between true conformity and the best single item order.

    A scalar item bias b_i orders every user's items the same way; when all c_ug > 0 and equal
    across groups, ordering by p_i matches each user's conformity exactly (correlation 1).
    """
    scores = truth.conformity(np.arange(truth.n_users))
    order = np.tile(truth.log_popularity, (truth.n_users, 1))
    from dice.disentangle import spearman_rows

    return float(np.nanmean(spearman_rows(scores, order)))


def test_group_conformity_preset_defeats_a_scalar_bias():
    _, plain = simulate({"preset": "small", "group_conformity_spread": 0.0})
    _, grouped = simulate({"preset": "group-conformity"})
    assert rank_agreement_with_one_item_order(plain) == pytest.approx(1.0)
    assert rank_agreement_with_one_item_order(grouped) < 0.6
    signs = np.sign(grouped.user_conformity)
    # the paper's example (DICE §4.2.2): conformity towards one group but against another
    assert ((signs > 0).any(axis=1) & (signs < 0).any(axis=1)).mean() > 0.5
    _, default = simulate({"preset": "ml100k-like"})
    assert (default.user_conformity > 0).all()  # default presets only vary the strength


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"n_users": 10.5}, "n_users must be int"),
        ({"conformity_strength": -1.0}, "conformity_strength must be >= 0"),
        ({"n_groups": 0}, "n_groups must be > 0"),
        ({"group_conformity_spread": "wide"}, "group_conformity_spread must be"),
    ],
)
def test_bad_parameters_are_rejected(params, problem):
    with pytest.raises(DiceError, match=problem):
        synthetic.resolve_params(params)


# --- presets: sizes and skew after the default preprocessing and the intervened split --------

# Targets: DICE Table 1 (ML-10M, Netflix) and this suite's ml100k split (cap 0.9, seed 0);
# tolerances: users 1 %, items 2.5 %, interactions 2 %, train entropy 0.05 nats.
TARGETS = {
    "ml100k-like": (514, 456, 16_475, 5.58),
    "ml10m-like": (37_962, 4_819, 1_371_473, 6.22),
    "netflix-like": (32_450, 8_432, 2_212_690, 6.85),
}


def preset_statistics(preset: str, seed: int = 0) -> dict:
    frame, _ = simulate({"preset": preset}, seed=seed)
    prepared = preprocess(frame, PreprocessConfig(), rng=numpy_rng(seed, "prepare"))
    split = intervened_split(prepared.interactions, cap=0.9, rng=numpy_rng(seed, "split"))
    return split_statistics(split)


def check_targets(preset: str, seed: int) -> None:
    users, items, interactions, entropy = TARGETS[preset]
    got = preset_statistics(preset, seed)
    assert got["users"] == pytest.approx(users, rel=0.01)
    assert got["items"] == pytest.approx(items, rel=0.025)
    assert got["interactions"] == pytest.approx(interactions, rel=0.02)
    assert got["entropy"]["train"] == pytest.approx(entropy, abs=0.05)
    assert got["entropy"]["test"] > got["entropy"]["train"] + 0.3  # the intervened test is flatter


@pytest.mark.parametrize("seed", [0, 1])
def test_ml100k_like_hits_its_size_and_skew(seed):
    check_targets("ml100k-like", seed)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["ml10m-like", "netflix-like"])
def test_large_presets_hit_their_size_and_skew(preset):
    check_targets(preset, seed=0)


@pytest.mark.slow
def test_ml10m_like_generates_in_bounded_memory():
    """Memory only: the generation time is measured by `python -m benchmarks.run generation`."""
    tracemalloc.start()
    frame, truth = simulate({"preset": "ml10m-like"})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.0 * 2**30
    assert len(frame) > 1_300_000 and truth.n_users == 37_962


def test_small_presets_survive_the_default_filter():
    for preset in ("tiny", "small", "group-conformity"):
        frame, truth = simulate({"preset": preset})
        inter = Interactions.from_frame(frame, n_users=truth.n_users, n_items=truth.n_items)
        assert (np.bincount(inter.user, minlength=inter.n_users) > 10).mean() > 0.95
        assert (inter.item_counts() > 10).mean() > 0.75
