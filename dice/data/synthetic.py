"""The suite's click simulator (docs/simulator.md): interest + conformity -> clicks, known cause.

The generative model (DICE §3.1, eq. 1: click = interest + conformity, additive):

1. interest: Gaussian user vectors, item vectors of norm sqrt(dim) (so no item is liked more
   on average: popularity comes from exposure and conformity only);
   interest(u, i) = scale * <u, i> / sqrt(dim);
2. popularity: a power law over a random ranking of the items, pop_i ∝ rank_i ** -zipf_exponent;
   its centred log is the popularity signal p_i;
3. conformity varies across users AND item groups (DICE §1, §4.2.2: "one user's conformity
   varies on different items", so a scalar bias cannot capture it): items fall into `n_groups`
   random groups; c_u ~ Gamma(conformity_mean, conformity_std) and
   c_ug = strength * c_u * (1 + group_conformity_spread * z_ug), z ~ N(0, 1); a spread above
   about 1 flips the sign for some (user, group) pairs; conformity(u, i) = c_u,g(i) * p_i;
4. exposure: each user sees `exposure_per_user` items, drawn without replacement with
   probability ∝ pop_i ** exposure_bias (observational data is popularity-biased);
5. clicks: a user with activity n_u clicks the n_u exposed items of highest utility
   interest + conformity + noise, noise = N(0, noise_std^2) + a standard Gumbel: a multinomial
   logit choice without replacement (vectorised Gumbel-top-k), so conformity shifts click odds
   multiplicatively, without the ceiling a click probability sigmoid(.) <= 1 would impose.

`GroundTruth` holds the parameters that regenerate interest(u, i) and conformity(u, i) exactly;
`counterfactual_clicks` draws an interest-only test under uniform exposure, do(conformity = 0).
Rows come out in a random order with ``timestamp`` = row position and ``rating`` = 5.0, so the
default preprocessing (rating >= 5, > 10 records) keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy import stats

from dice.errors import DiceError
from dice.io import atomic_path

_BLOCK_CELLS = 1 << 22  # users are processed in blocks of about this many (user, item) cells
_POSITIVE = ("n_users", "n_items", "clicks_per_user", "dim", "exposure_per_user",
             "conformity_mean", "n_groups")  # fmt: skip


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
    conformity_strength: float = 1.0  # multiplies every c_ug: the knob a study sweeps
    n_groups: int = 4  # item groups ("genres") across which a user's conformity varies
    group_conformity_spread: float = 0.25  # relative spread of c_ug around c_u
    noise_std: float = 0.5
    exposure_per_user: int = 100
    exposure_bias: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):  # counts and scales are > 0, every other parameter >= 0
            value, positive = getattr(self, f.name), f.name in _POSITIVE
            kind = int if f.type == "int" else float | int
            if isinstance(value, bool) or not isinstance(value, kind):
                raise DiceError(f"synthetic: {f.name} must be {f.type}, got {value!r}")
            if not (value > 0 if positive else value >= 0):
                bound = "> 0" if positive else ">= 0"
                raise DiceError(f"synthetic: {f.name} must be {bound}, got {value}")
        if not self.min_clicks <= self.exposure_per_user <= self.n_items:
            raise DiceError("synthetic: need min_clicks <= exposure_per_user <= n_items")


# Overrides of the `SimulatorParams` defaults. "tiny"/"small" (about 6k / 31k clicks) are for
# tests and smoke runs. The "-like" presets are calibrated so that, AFTER the default
# preprocessing and the intervened split (cap 0.9), users / items / interactions and the train
# entropy match the real data (DICE Table 1; ml100k from this suite's own split): ML-100K
# 514 / 456 / 16,475, 5.58; ML-10M 37,962 / 4,819 / 1,371,473, 6.22; Netflix 32,450 / 8,432 /
# 2,212,690, 6.85. "group-conformity" is the scalar-bias failure case (DICE §4.2.2): conformity
# changes sign across item groups for many users, which no b_u + b_i can express.
PRESETS: dict[str, dict[str, float | int]] = {
    "tiny": {"n_users": 300, "n_items": 200, "clicks_per_user": 18.0, "exposure_per_user": 100,
             "zipf_exponent": 0.6},
    "small": {"n_users": 1000, "n_items": 600, "clicks_per_user": 28.0, "exposure_per_user": 200,
              "zipf_exponent": 0.6},
    "ml100k-like": {"n_users": 514, "n_items": 512, "clicks_per_user": 27.3,
                    "activity_sigma": 0.6, "exposure_per_user": 160, "zipf_exponent": 0.78},
    "ml10m-like": {"n_users": 37962, "n_items": 4822, "clicks_per_user": 24.65, "dim": 16,
                   "activity_sigma": 0.85, "exposure_per_user": 400, "zipf_exponent": 1.1},
    "netflix-like": {"n_users": 32450, "n_items": 8432, "clicks_per_user": 47.6, "dim": 16,
                     "activity_sigma": 0.85, "exposure_per_user": 600, "zipf_exponent": 1.03},
    "group-conformity": {"n_users": 2000, "n_items": 1000, "clicks_per_user": 28.0,
                         "activity_sigma": 0.6, "exposure_per_user": 250, "zipf_exponent": 0.75,
                         "conformity_mean": 1.0, "group_conformity_spread": 1.5},
}  # fmt: skip


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


@dataclass(frozen=True)
class GroundTruth:
    """What regenerates true interest(u, i) and conformity(u, i) of every (user, item), exactly.

    Attributes:
        user_interest: (U, d) user vectors, already multiplied by interest_scale / sqrt(dim).
        item_interest: (I, d) item vectors; interest(u, i) = <user_interest[u], item_interest[i]>.
        user_conformity: (U, G) c_ug, the conformity of user u towards item group g.
        item_group: (I,) int64 group of each item.
        log_popularity: (I,) centred log popularity p_i; conformity(u, i) = c_u,g(i) * p_i.
        noise_std: click noise (for `counterfactual_clicks`).
        exposure_per_user: items a user sees (for `counterfactual_clicks`).
    """

    user_interest: NDArray[np.float64]
    item_interest: NDArray[np.float64]
    user_conformity: NDArray[np.float64]
    item_group: NDArray[np.int64]
    log_popularity: NDArray[np.float64]
    noise_std: float
    exposure_per_user: int

    @property
    def n_users(self) -> int:
        return len(self.user_interest)

    @property
    def n_items(self) -> int:
        return len(self.item_interest)

    def interest(self, users: NDArray[np.integer]) -> NDArray[np.float64]:
        """(B, n_items) true interest of `users` in every item."""
        return self.user_interest[users] @ self.item_interest.T

    def conformity(self, users: NDArray[np.integer]) -> NDArray[np.float64]:
        """(B, n_items) true conformity of `users` towards every item."""
        return self.user_conformity[users][:, self.item_group] * self.log_popularity

    def interest_at(self, users: NDArray[np.integer], items: NDArray[np.integer]) -> NDArray:
        """Interest of broadcast (user, item) pairs, e.g. users (B, 1) and items (B, E)."""
        return np.einsum("...d,...d->...", self.user_interest[users], self.item_interest[items])

    def conformity_at(self, users: NDArray[np.integer], items: NDArray[np.integer]) -> NDArray:
        """Conformity of broadcast (user, item) pairs."""
        return self.user_conformity[users, self.item_group[items]] * self.log_popularity[items]

    def reindex(self, user_ids: NDArray[np.integer], item_ids: NDArray[np.integer]) -> GroundTruth:
        """The truth in new indices: ``user_ids[new]`` / ``item_ids[new]`` = original id."""
        user_ids, item_ids = np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64)
        for ids, size, name in ((user_ids, self.n_users, "user"), (item_ids, self.n_items, "item")):
            if ids.ndim != 1 or (len(ids) and (ids.min() < 0 or ids.max() >= size)):
                raise DiceError(f"synthetic truth: {name} ids must lie in [0, {size})")
        return replace(self, user_interest=self.user_interest[user_ids],
                       user_conformity=self.user_conformity[user_ids],
                       item_interest=self.item_interest[item_ids],
                       item_group=self.item_group[item_ids],
                       log_popularity=self.log_popularity[item_ids])  # fmt: skip

    def save(self, path: str | Path) -> None:
        """Write every field to one .npz file, atomically."""
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        """Read what `save` wrote; a missing or malformed file is a `DiceError`."""
        path = Path(path)
        if not path.exists():
            raise DiceError("synthetic ground truth is missing; rerun the prepare stage", path=path)
        try:
            with np.load(path, allow_pickle=False) as data:
                values = {f.name: data[f.name] for f in fields(cls)}
            truth = cls(**{**values, "noise_std": float(values["noise_std"]),
                           "exposure_per_user": int(values["exposure_per_user"])})  # fmt: skip
        except (OSError, ValueError, KeyError) as err:
            raise DiceError(f"cannot read the ground truth ({err})", path=path) from None
        _check_shapes(truth, path)
        return truth


def _check_shapes(truth: GroundTruth, path: Path) -> None:
    users, items = truth.n_users, truth.n_items
    ok = (truth.item_interest.shape[1:] == truth.user_interest.shape[1:]
          and truth.user_conformity.shape[0] == users
          and truth.item_group.shape == truth.log_popularity.shape == (items,)
          and 0 <= truth.item_group.min(initial=0) <= truth.item_group.max(initial=0)
          < truth.user_conformity.shape[1])  # fmt: skip
    if not ok:
        raise DiceError("the ground-truth arrays have inconsistent shapes", path=path)


def make_truth(p: SimulatorParams, *, rng: np.random.Generator) -> GroundTruth:
    """Draw the latent causes: interest vectors, popularity, item groups, conformity c_ug."""
    scale = p.interest_scale / np.sqrt(p.dim)
    user_vec = scale * rng.standard_normal((p.n_users, p.dim))
    item_vec = rng.standard_normal((p.n_items, p.dim))
    item_vec *= np.sqrt(p.dim) / np.linalg.norm(item_vec, axis=1, keepdims=True)  # equal appeal
    log_pop = log_popularity(p, rng=rng)
    group = rng.integers(p.n_groups, size=p.n_items).astype(np.int64)
    c_user = conformity_strength(p, rng=rng)
    spread = 1.0 + p.group_conformity_spread * rng.standard_normal((p.n_users, p.n_groups))
    c_group = p.conformity_strength * c_user[:, None] * spread
    return GroundTruth(user_vec, item_vec, c_group, group, log_pop, p.noise_std,
                       p.exposure_per_user)  # fmt: skip


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
    """Clicks per user: lognormal around `clicks_per_user`, within [min_clicks, exposure]; the
    users get the lognormal's quantiles at (k + 0.5) / n_users in a random order, so the
    total number of clicks barely varies between seeds (the presets' size targets).
    """
    normal = stats.norm.ppf((rng.permutation(p.n_users) + 0.5) / p.n_users)
    raw = p.clicks_per_user * np.exp(p.activity_sigma * normal)
    return np.clip(np.round(raw), p.min_clicks, p.exposure_per_user).astype(np.int64)


def generate_with_truth(
    params: Mapping, *, rng: np.random.Generator
) -> tuple[pd.DataFrame, GroundTruth]:
    """Simulated clicks as a ratings frame plus the ground truth in the frame's ids."""
    p = resolve_params(params)
    truth = make_truth(p, rng=rng)
    activity = user_activity(p, rng=rng)
    weight = np.exp(-p.exposure_bias * truth.log_popularity)  # 1 / exposure weight
    users, items = [], []
    block = max(1, _BLOCK_CELLS // p.n_items)
    for start in range(0, p.n_users, block):
        span = np.arange(start, min(start + block, p.n_users))
        exposed = expose(weight, len(span), p.exposure_per_user, rng=rng)  # (B, E)
        logits = (truth.interest_at(span[:, None], exposed)
                  + truth.conformity_at(span[:, None], exposed))  # fmt: skip
        logits += p.noise_std * rng.standard_normal(exposed.shape)
        rows, cols = np.nonzero(gumbel_top_k(logits, activity[span], rng=rng))
        users.append(span[rows])
        items.append(exposed[rows, cols])
    order = rng.permutation(sum(map(len, users)))
    user, item = np.concatenate(users)[order], np.concatenate(items)[order]
    frame = pd.DataFrame({"user": user, "item": item, "rating": np.full(len(user), 5.0),
                          "timestamp": np.arange(len(user), dtype=np.int64)})  # fmt: skip
    return frame, truth


def generate(params: Mapping, *, rng: np.random.Generator) -> pd.DataFrame:
    """Simulated clicks as a ratings frame (user, item, rating = 5.0, timestamp = row order)."""
    return generate_with_truth(params, rng=rng)[0]


def counterfactual_clicks(
    truth: GroundTruth,
    *,
    rng: np.random.Generator,
    per_user: int | NDArray[np.integer],
    exclude: sp.csr_matrix | None = None,
) -> pd.DataFrame:
    """Clicks drawn under do(conformity = 0) and uniform exposure, in the truth's index space.

    Each user sees ``truth.exposure_per_user`` items drawn uniformly from the items not in
    `exclude` (pass the training matrix so that every click can be recommended), then clicks
    `per_user` of them by utility interest + noise, as `generate_with_truth` does without its
    conformity term and popularity bias. Returns int64 columns ``user``, ``item``, sorted; a
    user gets fewer clicks than `per_user` only when fewer items are allowed.
    """
    n_users, n_items = truth.n_users, truth.n_items
    wanted = np.broadcast_to(np.asarray(per_user, np.int64), (n_users,))
    size = min(truth.exposure_per_user, n_items)
    block = max(1, _BLOCK_CELLS // n_items)
    users, items = [], []
    for start in range(0, n_users, block):
        span = np.arange(start, min(start + block, n_users))
        ok = np.ones((len(span), n_items), bool) if exclude is None else _allowed(exclude, span)
        exposed = expose(np.where(ok, 1.0, np.inf), len(span), size, rng=rng)  # (B, E)
        seen = np.take_along_axis(ok, exposed, axis=1)  # (B, E) False: an excluded filler
        logits = truth.interest_at(span[:, None], exposed)
        logits += truth.noise_std * rng.standard_normal(exposed.shape)
        keys = np.where(seen, logits, -np.inf)
        chosen = gumbel_top_k(keys, np.minimum(wanted[span], seen.sum(axis=1)), rng=rng)
        rows, cols = np.nonzero(chosen)
        users.append(span[rows])
        items.append(exposed[rows, cols])
    frame = pd.DataFrame({"user": np.concatenate(users), "item": np.concatenate(items)})
    return frame.sort_values(["user", "item"], ignore_index=True).astype(np.int64)


def _allowed(exclude: sp.csr_matrix, span: NDArray[np.int64]) -> NDArray[np.bool_]:
    return sp.csr_matrix(exclude)[span].toarray() == 0


def expose(
    inverse_weight: NDArray, n_users: int, size: int, *, rng: np.random.Generator
) -> NDArray[np.int64]:
    """(n_users, size) item ids per row, drawn without replacement with probability ∝ weight:
    `inverse_weight` is 1 / weight, (n_items,) or (n_users, n_items); inf excludes an item. The
    `size` smallest Exp(1) / weight keys are a successive weighted draw (the exponential form
    of Gumbel-top-k), found with a linear-time partition; rows come back sorted by item id.
    """
    keys = rng.standard_exponential((n_users, np.shape(inverse_weight)[-1]), dtype=np.float32)
    keys *= np.asarray(inverse_weight, dtype=np.float32)
    chosen = np.argpartition(keys, size - 1, axis=1)[:, :size]
    return np.sort(chosen, axis=1).astype(np.int64)


def gumbel_top_k(
    log_weights: NDArray, k: NDArray[np.int64], *, rng: np.random.Generator
) -> NDArray[np.bool_]:
    """Per row, a mask of k[row] columns drawn without replacement with probability ∝ exp(weight):
    adding Gumbel noise to log weights and keeping the k largest realises successive
    sampling without replacement (the Gumbel-top-k trick), for all rows at once.
    """
    keys = log_weights + rng.gumbel(size=log_weights.shape)
    rank = np.argsort(np.argsort(-keys, axis=1, kind="stable"), axis=1, kind="stable")
    return rank < np.asarray(k)[:, None]
