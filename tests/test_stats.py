"""dice.stats: intervals, paired tests and Holm's correction against scipy and hand values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dice.seeding import numpy_rng
from dice.stats import (
    CONFIDENCE,
    LONG_TAIL_HEAD,
    SIGNIFICANCE,
    half_width,
    holm,
    linear_separation,
    paired_seed_test,
    seed_mean_per_user,
    summarise_seeds,
    t_interval,
    tsne_2d,
    wilcoxon_users,
)


def test_t_interval_matches_scipy_and_hand_value():
    values = [0.10, 0.12, 0.14]
    low, high = t_interval(values)
    # s = 0.02, n = 3: half = t_{0.975, 2} * 0.02 / sqrt(3) = 4.302653 * 0.0115470 = 0.049683
    assert (low + high) / 2 == pytest.approx(0.12)
    assert (high - low) / 2 == pytest.approx(0.049683, abs=1e-6)
    assert (low, high) == pytest.approx(sps.t.interval(0.95, 2, loc=0.12, scale=sps.sem(values)))


def test_half_width_is_scipys_t_interval_at_any_level_and_size():
    rng = numpy_rng(5, "test")
    for n in (2, 3, 7):
        x = rng.random(n)
        for level in (0.9, 0.95, 0.99):
            low, high = sps.t.interval(level, n - 1, loc=x.mean(), scale=sps.sem(x))
            assert float(half_width(x.std(ddof=1), n, confidence=level)) == pytest.approx(
                (high - low) / 2
            )
            assert t_interval(x, confidence=level) == pytest.approx((low, high))
    assert np.isnan(half_width([0.0, 1.0], [1, 2])[0])  # one seed: no interval
    # the defaults every table and figure starts from
    assert (CONFIDENCE, SIGNIFICANCE, LONG_TAIL_HEAD) == (0.95, 0.05, 0.2)


def test_summarise_seeds_uses_the_same_interval_as_t_interval():
    frame = pd.DataFrame({"cell": ["a"] * 4, "value": [0.3, 0.1, 0.25, 0.2]})
    low, high = t_interval(frame["value"])
    assert summarise_seeds(frame, ["cell"])["ci95"].iloc[0] == pytest.approx((high - low) / 2)


def test_t_interval_of_one_seed_has_no_half_width():
    assert np.isnan(t_interval([0.3])).all()


def test_summarise_seeds_groups_in_order_of_appearance():
    frame = pd.DataFrame({"method": ["b", "b", "a"], "value": [1.0, 3.0, 5.0]})
    table = summarise_seeds(frame, ["method"])
    assert table["method"].tolist() == ["b", "a"]
    assert table["mean"].tolist() == [2.0, 5.0]
    assert table["std"].tolist() == pytest.approx([np.sqrt(2.0), 0.0])
    # n = 2: t_{0.975, 1} = 12.7062; half = 12.7062 * sqrt(2) / sqrt(2) = 12.7062
    assert table["ci95"].iloc[0] == pytest.approx(12.7062, abs=1e-4)
    assert np.isnan(table["ci95"].iloc[1])
    assert table["n_seeds"].tolist() == [2, 1]


def test_paired_seed_test_pairs_by_seed_like_ttest_rel():
    a = pd.Series([0.20, 0.21, 0.25, 0.9], index=[0, 1, 2, 7])
    b = pd.Series([0.11, 0.13, 0.15], index=[0, 1, 2])  # seed 7 has no partner: dropped
    expected = sps.ttest_rel([0.20, 0.21, 0.25], [0.11, 0.13, 0.15]).pvalue
    assert paired_seed_test(a, b) == pytest.approx(expected)
    # differences 0.09, 0.08, 0.10: t = 0.09 / (0.01 / sqrt(3)) = 15.588, df 2
    assert paired_seed_test(a, b) == pytest.approx(2 * sps.t.sf(15.5885, 2), rel=1e-4)


def test_paired_seed_test_needs_two_seeds():
    assert np.isnan(paired_seed_test(pd.Series([0.2], index=[0]), pd.Series([0.1], index=[0])))
    same = pd.Series([0.2, 0.3], index=[0, 1])
    assert paired_seed_test(same, same) == 1.0


def test_wilcoxon_users_matches_scipy():
    rng = numpy_rng(0, "test")
    a = rng.random(40)
    b = a + rng.normal(0.05, 0.1, 40)
    assert wilcoxon_users(a, b) == pytest.approx(sps.wilcoxon(a, b).pvalue)


def test_wilcoxon_users_exact_small_case_and_edges():
    # four users, all differences positive and distinct: exact two-sided p = 2 / 2^4
    assert wilcoxon_users([0.5, 0.6, 0.7, 0.8], [0.1, 0.2, 0.3, 0.35]) == pytest.approx(0.125)
    assert wilcoxon_users([0.1, 0.2], [0.1, 0.2]) == 1.0
    assert np.isnan(wilcoxon_users([], []))
    with pytest.raises(ValueError):
        wilcoxon_users([0.1], [0.1, 0.2])


def test_seed_mean_per_user_averages_seeds_and_drops_users_without_truth():
    per_user = pd.DataFrame({
        "seed": [0, 0, 0, 1, 1, 1, 2, 2, 2],
        "user": [0, 1, 2] * 3,
        "n_truth": [1, 0, 2] * 3,
        "recall@20": [0.2, 0.0, 0.5, 0.4, 0.0, 0.7, 9.0, 0.0, 9.0],
    })  # fmt: skip
    means = seed_mean_per_user(per_user, "recall@20", seeds=[0, 1])
    assert means.to_dict() == pytest.approx({0: 0.3, 2: 0.6})


def test_holm_hand_example():
    # sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 → running max
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def _holm_reference(p):
    """Textbook step-down: reject in order while p_(i) <= alpha / (m - i + 1)."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_holm_matches_reference_keeps_nan_and_caps_at_one():
    p = list(numpy_rng(1, "test").random(12) * 0.2)
    assert holm(p) == pytest.approx(_holm_reference(p))
    adjusted = holm([0.2, np.nan, 0.6])
    assert np.isnan(adjusted[1])
    assert adjusted[[0, 2]] == pytest.approx([0.4, 0.6])
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]
    assert np.isnan(holm([np.nan])).all()


def test_tsne_is_seeded_and_separates_far_clusters():
    rng = numpy_rng(2, "test")
    x = np.vstack([rng.normal(0, 1, (15, 5)), rng.normal(30, 1, (15, 5))])
    first = tsne_2d(x, rng=numpy_rng(0, "tsne"))
    assert first.shape == (30, 2)
    assert np.array_equal(first, tsne_2d(x, rng=numpy_rng(0, "tsne")))
    labels = np.repeat(["interest", "conformity"], 15)
    assert linear_separation(first, labels)["accuracy"] == 1.0


def test_linear_separation_finds_the_boundary():
    # classes split by the line y = x: the fitted boundary has w_x ≈ -w_y and b ≈ 0
    rng = numpy_rng(3, "test")
    points = rng.uniform(-1, 1, (400, 2))
    points = points[np.abs(points[:, 0] - points[:, 1]) > 0.1]
    labels = np.where(points[:, 1] > points[:, 0], "a", "b")
    line = linear_separation(points, labels)
    assert line["accuracy"] == 1.0
    assert line["w_x"] == pytest.approx(-line["w_y"], rel=0.1)
    assert abs(line["b"]) < 0.1 * abs(line["w_x"])
    with pytest.raises(ValueError):
        linear_separation(points, np.zeros(len(points)))
