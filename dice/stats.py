"""Statistics over seeds and users, and the analysis defaults every table and figure shares.

- A cell is the mean over seeds ± the half-width of the two-sided Student-t interval
  ``t_{(1+c)/2, n-1} · s / √n`` (`half_width`; NaN with one seed: no replication, no interval).
- The seed-level test is a paired t-test on the seeds both methods have; the user-level test a
  paired Wilcoxon signed-rank test of each user's metric averaged over those seeds (users with a
  test item only). p-values of one table are Holm-corrected, each family separately.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dice.settings import AnalysisSettings

#: Analysis defaults (CLI options and keyword parameters start from these).
CONFIDENCE = 0.95  # interval level of every "mean ± interval" cell and error bar
SIGNIFICANCE = AnalysisSettings().significance_level  # Holm-corrected level of the table marks
LONG_TAIL_HEAD = AnalysisSettings().long_tail_head_share  # training share held by the head


def half_width(std: ArrayLike, n: ArrayLike, *, confidence: float = CONFIDENCE) -> NDArray:
    """The one interval: Student-t half-width ``t_{(1+c)/2, n-1} · s / √n``; NaN where n < 2."""
    n = np.asarray(n, dtype=np.float64)
    t = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
    return np.where(n > 1, t * np.asarray(std) / np.sqrt(np.maximum(n, 1)), np.nan)


def t_interval(values: ArrayLike, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(low, high) of `half_width` around the mean of `values` (seaborn ``errorbar`` callable)."""
    x = pd.Series(values, dtype=np.float64)
    half = float(half_width(x.std(), len(x), confidence=confidence)) if len(x) else np.nan
    return x.mean() - half, x.mean() + half


def summarise_seeds(
    frame: pd.DataFrame, keys: Sequence[str], *, value: str = "value"
) -> pd.DataFrame:
    """Per group of `keys` (first-appearance order): ``mean``, ``std`` (0 with one seed),
    ``ci95`` (`half_width`), ``n_seeds``."""
    grouped = frame.groupby(list(keys), sort=False, dropna=False)[value]
    table = grouped.agg(mean="mean", std="std", n_seeds="count").reset_index()
    table["std"] = table["std"].fillna(0.0)
    table["ci95"] = half_width(table["std"], table["n_seeds"].to_numpy())
    return table[[*keys, "mean", "std", "ci95", "n_seeds"]]


def paired_seed_test(a: pd.Series, b: pd.Series) -> float:
    """Two-sided paired t-test p of `a` vs `b` (indexed by seed) over their common seeds.

    NaN with fewer than two common seeds; 1.0 when every difference is zero.
    """
    common = a.index.intersection(b.index)
    if len(common) < 2:
        return float("nan")
    x, y = a.loc[common].to_numpy(np.float64), b.loc[common].to_numpy(np.float64)
    return 1.0 if np.all(x == y) else float(stats.ttest_rel(x, y).pvalue)


def wilcoxon_users(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided paired Wilcoxon signed-rank p of per-user vectors (zero differences dropped);
    1.0 when all differences are zero, NaN without users."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"per-user vectors differ in shape: {x.shape} vs {y.shape}")
    if x.size == 0:
        return float("nan")
    return 1.0 if np.all(x == y) else float(stats.wilcoxon(x, y, zero_method="wilcox").pvalue)


def seed_mean_per_user(
    per_user: pd.DataFrame, metric: str, *, seeds: Sequence[int] | None = None
) -> pd.Series:
    """Each user's `metric` (e.g. ``recall@20``) averaged over `seeds`, users with a test item."""
    rows = per_user[per_user["n_truth"] > 0]
    if seeds is not None:
        rows = rows[rows["seed"].isin(list(seeds))]
    return rows.groupby("user", sort=True)[metric].mean()


def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm step-down adjusted p-values, ``min(1, max_{j<=i} (m - j + 1) p_(j))``; NaN kept."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    out[order] = np.minimum(
        1.0, np.maximum.accumulate((valid.size - np.arange(valid.size)) * p[order])
    )
    return out


# --- embedding analysis (Fig. 5b, Fig. 7) --------------------------------------------------------


def tsne_2d(vectors: ArrayLike, *, rng: np.random.Generator) -> NDArray[np.float64]:
    """(N, 2) openTSNE embedding (PCA initialisation, one thread, seeded from `rng`).

    Same objective as the official figures' sklearn ``TSNE(n_components=2)``; perplexity 30,
    lowered to (N - 1) / 3 for very small inputs.
    """
    from openTSNE import TSNE

    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 4:
        raise ValueError(f"t-SNE needs an (N >= 4, d) array, got shape {x.shape}")
    tsne = TSNE(n_components=2, perplexity=min(30.0, (x.shape[0] - 1) / 3), initialization="pca",
                random_state=int(rng.integers(2**31 - 1)), n_jobs=1, verbose=False)  # fmt: skip
    return np.asarray(tsne.fit(x), dtype=np.float64)


def linear_separation(points: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Logistic-regression boundary ``w_x x + w_y y + b = 0`` between two classes in the plane,
    and its in-sample ``accuracy`` (the paper's Fig. 5b line is hand-drawn; this one is fitted)."""
    from sklearn.linear_model import LogisticRegression

    xy, y = np.asarray(points, dtype=np.float64), np.asarray(labels)
    if len(np.unique(y)) != 2:
        raise ValueError("linear_separation needs exactly two classes")
    centre, scale = xy.mean(axis=0), xy.std(axis=0) + 1e-12
    model = LogisticRegression(C=1e4, max_iter=1000).fit((xy - centre) / scale, y)
    w = model.coef_[0] / scale
    accuracy = float(np.mean(model.predict((xy - centre) / scale) == y))
    return {"w_x": float(w[0]), "w_y": float(w[1]), "b": float(model.intercept_[0] - w @ centre),
            "accuracy": accuracy}  # fmt: skip
