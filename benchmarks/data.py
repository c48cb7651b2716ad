"""The benchmark datasets as split folders: real ML-100K and the synthetic ml10m-like preset.

ML-100K is the workflow's own split (``results/splits/<id>/ml100k/<split>``, the folder
``python -m dice plan --config config/config.yaml splits`` prints), or the same prepare → split
stages run here when that folder is absent. ``ml10m-like`` (and ``ml100k-like``) come from the
suite's simulator preset when `dice.data.synthetic.PRESETS` has it; otherwise from the stand-in
below, a power-law generator of the ML-10M sizes of DICE Table 1 (37,962 users, 4,819 items,
1,371,473 interactions). A `scale` multiplies users, items and interactions (the scaling curve).
Every folder is cached under ``benchmarks/results/tmp/`` (git-ignored) and keyed by its recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dice.data import synthetic
from dice.data.interactions import Interactions
from dice.data.splits import check_disjoint, intervened_split
from dice.plan import main_split, split_name
from dice.seeding import numpy_rng

#: DICE Table 1, Movielens-10M after the 5-star and > 10 records filters.
ML10M_SIZE = {"n_users": 37_962, "n_items": 4_819, "interactions": 1_371_473}
#: Item popularity ∝ rank^-ZIPF and lognormal user activity (sigma ACTIVITY_SIGMA), floored at
#: MIN_CLICKS: a long tail close to ML-10M's (top 10 % of items hold about half of the clicks).
ZIPF, ACTIVITY_SIGMA, MIN_CLICKS = 0.9, 0.9, 11


def split_dir(name: str, config: Mapping, *, root: Path, cache: Path, scale: float = 1.0) -> Path:
    """The split folder of dataset `name` at `scale`, built on first use.

    Args:
        name: ``ml100k``, or a synthetic preset name such as ``ml10m-like``.
        config: the suite config (its ``preprocess`` and ``split`` settings are used).
        root: repository root (where the workflow writes ``results/``).
        cache: folder for splits built here.
        scale: size multiplier for synthetic data (1 for ML-100K).
    """
    sid = split_name(config["split"])
    if name == "ml100k" and name in config["datasets"]:
        workflow = root / main_split(config, name).dir  # the workflow's own split, if made
        if (workflow / "meta.json").exists():
            return workflow
    out = cache / "splits" / f"{name}-{_kind(name)}-x{scale:g}" / sid
    if not (out / "meta.json").exists():
        _split(_interactions(name, config, cache=cache, scale=scale), config["split"], out)
    return out


def _kind(name: str) -> str:
    return "real" if name == "ml100k" else "preset" if name in synthetic.PRESETS else "powerlaw"


def source_of(name: str) -> str:
    """How dataset `name` is produced (recorded in the results)."""
    if name == "ml100k":
        return "MovieLens-100K (workflow prepare + split)"
    if name in synthetic.PRESETS:
        return f"dice.data.synthetic preset {name!r}"
    return "benchmarks power-law stand-in (ML-10M sizes)"


def _interactions(name: str, config: Mapping, *, cache: Path, scale: float) -> Interactions:
    from dice.data.datasets import load_ratings
    from dice.data.preprocess import PreprocessConfig, preprocess

    if name == "ml100k":
        ratings = load_ratings("ml100k", raw_dir=cache / "raw" / "ml100k")
    elif name in synthetic.PRESETS:
        params = synthetic.PRESETS[name]
        sizes = {k: max(1, round(params[k] * scale)) for k in ("n_users", "n_items")}
        ratings = load_ratings("synthetic", raw_dir=cache, synthetic={"preset": name, **sizes})
    elif name == "ml10m-like":
        sizes = {k: max(20, round(v * scale)) for k, v in ML10M_SIZE.items()}
        return power_law_interactions(**sizes, rng=numpy_rng(0, f"benchmark:{name}"))
    else:
        raise ValueError(f"unknown benchmark dataset {name!r}")
    prepared = preprocess(ratings, PreprocessConfig(**config["preprocess"]), rng=numpy_rng(0, name))
    return prepared.interactions


def _split(inter: Interactions, options: Mapping, out: Path) -> None:
    opts = dict(options)
    seed = opts.pop("seed")
    split = intervened_split(inter, **opts, rng=numpy_rng(seed, "split"))
    check_disjoint(split)
    split.save(out, meta={"seed": seed, **opts})


def power_law_interactions(
    *, n_users: int, n_items: int, interactions: int, rng: np.random.Generator
) -> Interactions:
    """Distinct (user, item) clicks: Zipf item popularity, lognormal activity (vectorised).

    Each user u clicks n_u distinct items drawn without replacement with probability ∝ the
    item's popularity weight (Gumbel-top-k: the n_u largest log w_i + Gumbel noise), with
    n_u lognormal, at least `MIN_CLICKS`, scaled so that the total is about `interactions`.
    """
    weight = np.arange(1, n_items + 1, dtype=np.float64) ** -ZIPF
    log_w = np.log(weight[rng.permutation(n_items)])
    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, size=n_users)
    extra = max(interactions - MIN_CLICKS * n_users, 0)
    n_u = MIN_CLICKS + np.floor(activity / activity.sum() * extra).astype(np.int64)
    n_u = np.minimum(n_u, n_items // 2)
    users, items = [], []
    block = max(1, (1 << 22) // n_items)
    for start in range(0, n_users, block):
        stop = min(start + block, n_users)
        keys = log_w + rng.gumbel(size=(stop - start, n_items))  # (b, I)
        ranked = np.argsort(-keys, axis=1)
        take = np.arange(n_items)[None, :] < n_u[start:stop, None]  # (b, I) first n_u ranks
        rows, cols = np.nonzero(take)
        users.append(start + rows)
        items.append(ranked[rows, cols])
    return Interactions(
        np.concatenate(users).astype(np.int64), np.concatenate(items).astype(np.int64),
        n_users, n_items,
    )  # fmt: skip
