"""The suite's click simulator (SPEC §6): interest + conformity -> clicks, with a known cause.

The generative model, one small function per stage:

1. latent factors: user and item interest vectors; interest_ui = scale * <u, v> / sqrt(dim);
2. popularity: a power law over a random ranking of the items, pop_i ∝ rank_i ** -zipf_exponent;
3. conformity: each user's strength c_u >= 0 of following the crowd; conformity_ui =
   c_u * (log pop_i - mean log pop);
4. exposure: each user sees `exposure_per_user` items, drawn without replacement with
   probability ∝ pop_i ** exposure_bias (observational data is popularity-biased);
5. clicks: a user with activity n_u clicks n_u of the exposed items, drawn without replacement
   with weight sigmoid(interest_ui + conformity_ui + noise) (vectorised Gumbel-top-k).

Rows come out in a random order with ``timestamp`` = row position and ``rating`` = 5.0, so the
default preprocessing (rating >= 5, > 10 records) keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dice.errors import DiceError

_BLOCK_CELLS = 1 << 22  # users are processed in blocks of about this many (user, item) cells


@dataclass(frozen=True)
class SimulatorParams:
    """Parameters of the simulator; see the module docstring for the model."""

    n_users: int = 300
    n_items: int = 200
    clicks_per_user: float = 18.0  # median activity n_u (lognormal)
    activity_sigma: float = 0.4  # spread of log activity across users
    min_clicks: int = 12  # every user clicks at least this many items (> 10 filter)
    dim: int = 8
    interest_scale: float = 2.0
    zipf_exponent: float = 1.0
    conformity_mean: float = 0.5  # c_u ~ Gamma with this mean and standard deviation
    conformity_std: float = 0.3
    noise_std: float = 0.5
    exposure_per_user: int = 100
    exposure_bias: float = 1.0

    def __post_init__(self) -> None:
        positive = (
            "n_users",
            "n_items",
            "clicks_per_user",
            "dim",
            "exposure_per_user",
            "conformity_mean",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise DiceError(f"synthetic: {name} must be > 0, got {getattr(self, name)}")
        for name in (
            "activity_sigma",
            "min_clicks",
            "conformity_std",
            "noise_std",
            "exposure_bias",
        ):
            if not getattr(self, name) >= 0:
                raise DiceError(f"synthetic: {name} must be >= 0, got {getattr(self, name)}")
        if not self.min_clicks <= self.exposure_per_user <= self.n_items:
            raise DiceError("synthetic: need min_clicks <= exposure_per_user <= n_items")


# Sizes only; the defaults of `SimulatorParams` give the skew (top 10 % of items ~ 25-30 % of
# clicks, > 90 % of items with > 10 clicks). About 6k and 31k clicks.
PRESETS: dict[str, dict[str, float | int]] = {
    "tiny": {"n_users": 300, "n_items": 200, "clicks_per_user": 18.0, "exposure_per_user": 100},
    "small": {"n_users": 1000, "n_items": 600, "clicks_per_user": 28.0, "exposure_per_user": 200},
}


def resolve_params(params: Mapping) -> SimulatorParams:
    """`SimulatorParams` from an optional ``preset`` name plus explicit overrides."""
    params = dict(params)
    preset = params.pop("preset", "tiny")
    if preset not in PRESETS:
        raise DiceError(
            f"synthetic: unknown preset {preset!r}; expected one of {', '.join(PRESETS)}"
        )
    known = {f.name for f in fields(SimulatorParams)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise DiceError(f"synthetic: unknown parameter(s) {', '.join(unknown)}")
    try:
        return SimulatorParams(**{**PRESETS[preset], **params})
    except TypeError as err:  # e.g. a string where a number belongs
        raise DiceError(f"synthetic: invalid parameter value ({err})") from None


def generate(params: Mapping, *, rng: np.random.Generator) -> pd.DataFrame:
    """Simulated clicks as a ratings frame (user, item, rating = 5.0, timestamp = row order)."""
    p = resolve_params(params)
    user_vec, item_vec = latent_factors(p, rng=rng)
    log_pop = log_popularity(p, rng=rng)
    conformity = conformity_strength(p, rng=rng)
    activity = user_activity(p, rng=rng)
    users, items = [], []
    block = max(1, _BLOCK_CELLS // p.n_items)
    for start in range(0, p.n_users, block):
        span = np.arange(start, min(start + block, p.n_users))
        exposed = expose(log_pop, len(span), p, rng=rng)
        logits = click_logits(
            user_vec[span], item_vec, conformity[span], log_pop, exposed, p, rng=rng
        )
        chosen = gumbel_top_k(_log_sigmoid(logits), activity[span], rng=rng)
        rows, cols = np.nonzero(chosen)
        users.append(span[rows])
        items.append(exposed[rows, cols])
    order = rng.permutation(sum(map(len, users)))
    user, item = np.concatenate(users)[order], np.concatenate(items)[order]
    return pd.DataFrame(
        {
            "user": user,
            "item": item,
            "rating": np.full(len(user), 5.0),
            "timestamp": np.arange(len(user), dtype=np.int64),
        }
    )


def latent_factors(p: SimulatorParams, *, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
    """Standard-normal interest vectors of users and items."""
    return rng.standard_normal((p.n_users, p.dim)), rng.standard_normal((p.n_items, p.dim))


def log_popularity(p: SimulatorParams, *, rng: np.random.Generator) -> NDArray[np.float64]:
    """Centred log popularity: a Zipf law over a random permutation of the items."""
    rank = rng.permutation(p.n_items) + 1
    log_pop = -p.zipf_exponent * np.log(rank)
    return log_pop - log_pop.mean()


def conformity_strength(p: SimulatorParams, *, rng: np.random.Generator) -> NDArray[np.float64]:
    """Per-user conformity c_u >= 0, Gamma-distributed with the given mean and std."""
    if p.conformity_std == 0:
        return np.full(p.n_users, p.conformity_mean)
    shape = (p.conformity_mean / p.conformity_std) ** 2
    return rng.gamma(shape, p.conformity_mean / shape, size=p.n_users)


def user_activity(p: SimulatorParams, *, rng: np.random.Generator) -> NDArray[np.int64]:
    """Clicks per user: lognormal around `clicks_per_user`, within [min_clicks, exposure]."""
    raw = p.clicks_per_user * np.exp(p.activity_sigma * rng.standard_normal(p.n_users))
    return np.clip(np.round(raw), p.min_clicks, p.exposure_per_user).astype(np.int64)


def expose(
    log_pop: NDArray, n_users: int, p: SimulatorParams, *, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Exposed item ids (n_users, exposure_per_user): popularity-biased draws without replacement."""
    keys = np.broadcast_to(p.exposure_bias * log_pop, (n_users, p.n_items))
    counts = np.full(n_users, p.exposure_per_user)
    chosen = gumbel_top_k(keys, counts, rng=rng)
    return np.nonzero(chosen)[1].reshape(n_users, p.exposure_per_user)


def click_logits(
    user_vec: NDArray,
    item_vec: NDArray,
    conformity: NDArray,
    log_pop: NDArray,
    exposed: NDArray[np.int64],
    p: SimulatorParams,
    *,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """interest + conformity + noise for each exposed (user, item) cell."""
    interest = (
        p.interest_scale * np.einsum("ud,ukd->uk", user_vec, item_vec[exposed]) / np.sqrt(p.dim)
    )
    conform = conformity[:, None] * log_pop[exposed]
    return interest + conform + p.noise_std * rng.standard_normal(exposed.shape)


def gumbel_top_k(
    log_weights: NDArray, k: NDArray[np.int64], *, rng: np.random.Generator
) -> NDArray[np.bool_]:
    """Per row, a mask of k[row] columns drawn without replacement with probability ∝ exp(weight).

    Adding Gumbel noise to log weights and keeping the k largest realises successive
    sampling without replacement (the Gumbel-top-k trick), for all rows at once.
    """
    keys = log_weights + rng.gumbel(size=log_weights.shape)
    rank = np.argsort(np.argsort(-keys, axis=1, kind="stable"), axis=1, kind="stable")
    return rank < np.asarray(k)[:, None]


def _log_sigmoid(x: NDArray) -> NDArray:
    """log(sigmoid(x)) without underflow: the log of the click propensity."""
    return -np.logaddexp(0.0, -x)
