"""Statistics over seeds and users: confidence intervals, paired tests, Holm correction.

Conventions used by every table and figure (SPEC §5, "mean ± 95 % CI over seeds; significance of
DICE vs the best baseline, paired over seeds and per user"):

- a cell is the mean over seeds with the half-width of the two-sided Student-t interval
  ``t_{0.975, n-1} · s / √n`` (NaN with one seed: no interval without replication);
- the seed-level test pairs two methods' values run by run on the seeds both have (same split,
  same seed) and is a paired t-test (NaN with fewer than two pairs);
- the user-level test is a paired Wilcoxon signed-rank test over users: each user's metric is
  first **averaged over the seeds both methods have** (the split is shared by all seeds, so the
  users and their test items are the same), and only users with at least one test item enter
  (users without one score 0 under both methods and carry no information);
- p-values of one table are corrected together with Holm's step-down method, separately for the
  seed-level and the user-level family.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

CONFIDENCE = 0.95  # SPEC §5: 95 % interval


def t_interval(values: ArrayLike, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Mean and half-width of the two-sided Student-t interval (half-width NaN if n < 2).

    Math:
        mean ± t_{(1+c)/2, n-1} · s / √n, s the sample standard deviation (ddof 1).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size < 2:
        return float(x.mean()), float("nan")
    t = stats.t.ppf(0.5 + confidence / 2, x.size - 1)
    return float(x.mean()), float(t * x.std(ddof=1) / np.sqrt(x.size))


def summarise_seeds(
    frame: pd.DataFrame, keys: Sequence[str], *, value: str = "value"
) -> pd.DataFrame:
    """Per group of `keys`: ``mean``, ``std`` (0 with one seed), ``ci95``, ``n_seeds``.

    Group order follows first appearance in `frame`.
    """
    grouped = frame.groupby(list(keys), sort=False, dropna=False)[value]
    table = grouped.agg(mean="mean", std="std", n_seeds="count").reset_index()
    table["std"] = table["std"].fillna(0.0)
    n = table["n_seeds"].to_numpy()
    t = stats.t.ppf(0.5 + CONFIDENCE / 2, np.maximum(n - 1, 1))
    table["ci95"] = np.where(n > 1, t * table["std"] / np.sqrt(np.maximum(n, 1)), np.nan)
    return table[[*keys, "mean", "std", "ci95", "n_seeds"]]


def paired_seed_test(a: pd.Series, b: pd.Series) -> float:
    """Two-sided p-value of a paired t-test of `a` vs `b` over their common seeds.

    Args:
        a, b: metric values indexed by seed.

    Returns:
        NaN with fewer than two common seeds; 1.0 when every difference is zero.
    """
    common = a.index.intersection(b.index)
    if len(common) < 2:
        return float("nan")
    diff = a.loc[common].to_numpy(np.float64) - b.loc[common].to_numpy(np.float64)
    if np.all(diff == 0):
        return 1.0
    return float(stats.ttest_rel(a.loc[common], b.loc[common]).pvalue)


def wilcoxon_users(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided p-value of the paired Wilcoxon signed-rank test of per-user vectors.

    Zero differences are dropped (Wilcoxon's convention); 1.0 when all differences are zero,
    NaN when there are no users.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"per-user vectors differ in shape: {x.shape} vs {y.shape}")
    if x.size == 0:
        return float("nan")
    if np.all(x == y):
        return 1.0
    return float(stats.wilcoxon(x, y, zero_method="wilcox").pvalue)


def seed_mean_per_user(
    per_user: pd.DataFrame, metric: str, *, seeds: Sequence[int] | None = None
) -> pd.Series:
    """A user's `metric` averaged over seeds, users with >= 1 test item only.

    Args:
        per_user: rows ``seed``, ``user``, ``n_truth``, metric columns (per_user.parquet files
            stacked with their seed).
        metric: column, e.g. ``"recall@20"``.
        seeds: keep these seeds only (the seeds both compared methods have).
    """
    rows = per_user[per_user["n_truth"] > 0]
    if seeds is not None:
        rows = rows[rows["seed"].isin(list(seeds))]
    return rows.groupby("user", sort=True)[metric].mean()


def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm–Bonferroni adjusted p-values (NaN entries are left NaN and not counted).

    Math:
        With the m valid p-values sorted ascending p_(1) ≤ … ≤ p_(m),
        p̃_(i) = min(1, max_{j ≤ i} (m - j + 1) p_(j)).
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


# --- embedding analysis (Fig. 5b, Fig. 7) --------------------------------------------------------


def tsne_2d(vectors: ArrayLike, *, rng: np.random.Generator) -> NDArray[np.float64]:
    """(N, 2) t-SNE of `vectors` (openTSNE, PCA initialisation, single thread: reproducible).

    The official figures ran sklearn ``TSNE(n_components=2)`` with default parameters on the
    stacked item embeddings (code §3, t-SNE); openTSNE optimises the same objective, faster.
    Perplexity is 30 (the default of both), lowered to (N - 1) / 3 for very small inputs.
    """
    from openTSNE import TSNE

    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 4:
        raise ValueError(f"t-SNE needs an (N >= 4, d) array, got shape {x.shape}")
    perplexity = min(30.0, (x.shape[0] - 1) / 3)
    seed = int(rng.integers(2**31 - 1))
    tsne = TSNE(n_components=2, perplexity=perplexity, initialization="pca", random_state=seed,
                n_jobs=1, verbose=False)  # fmt: skip
    return np.asarray(tsne.fit(x), dtype=np.float64)


def linear_separation(points: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Fit a logistic-regression boundary between two point classes in the plane.

    The paper's Fig. 5b shows a "linear classifier (red line)" between interest and conformity
    embeddings; the official one is hand-drawn (code §3, t-SNE). Here it is fitted.

    Returns:
        ``w_x``, ``w_y``, ``b`` of the boundary ``w_x x + w_y y + b = 0`` (in the points'
        coordinates) and ``accuracy``, the share of points on their class's side (in-sample: a
        three-parameter model, so in-sample and held-out accuracy hardly differ).
    """
    from sklearn.linear_model import LogisticRegression

    xy = np.asarray(points, dtype=np.float64)
    y = np.asarray(labels)
    if len(np.unique(y)) != 2:
        raise ValueError("linear_separation needs exactly two classes")
    centre, scale = xy.mean(axis=0), xy.std(axis=0) + 1e-12
    model = LogisticRegression(C=1e4, max_iter=1000).fit((xy - centre) / scale, y)
    w = model.coef_[0] / scale
    b = float(model.intercept_[0] - w @ centre)
    accuracy = float(np.mean(model.predict((xy - centre) / scale) == y))
    return {"w_x": float(w[0]), "w_y": float(w[1]), "b": b, "accuracy": accuracy}
