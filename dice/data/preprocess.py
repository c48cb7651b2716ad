"""From raw ratings to implicit-feedback interactions.

Steps, in order (docs/protocol.md#data; the authors' pipeline:
docs/authors-code.md#data-pipeline):

1. keep ratings >= `rating_threshold` (5: "keeping ratings of five stars as one", DICE §4.1);
2. deduplicate (user, item), keeping the earliest record (dps ``filter_duplication``);
3. optionally keep a seeded random fraction of the users (dps ``downsample_user``; the paper's
   Netflix has 32,450 users, the fraction is unpublished);
4. filter: ``one_pass`` = dps ``filter_cf``: one pass over items, then one over users, each keeping
   entities with MORE than `min_count` records (so items may fall back to <= k afterwards);
   ``iterative`` = repeat both passes until nothing changes (a true "> k" core);
5. reindex users, then items, to 0..n-1 in order of first appearance, records sorted by
   timestamp (stable) (dps ``reindex_user_item``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dice.data.interactions import Interactions, read_int_frame
from dice.errors import DiceError
from dice.io import read_json, write_json, write_parquet

FILTERS: tuple[str, ...] = ("one_pass", "iterative")


@dataclass(frozen=True)
class PreprocessConfig:
    """Preprocessing options; defaults follow the paper and dps (see the module docstring)."""

    rating_threshold: float = 5.0  # DICE §4.1: five-star ratings are the positives
    # dps filter_cf(record, 10): keep entities with > 10 records; one pass over items, then users
    # (docs/authors-code.md#data-pipeline)
    min_count: int = 10
    filter: Literal["one_pass", "iterative"] = "one_pass"
    user_fraction: float = 1.0  # dps downsample_user; 1.0 keeps every user

    def __post_init__(self) -> None:
        threshold = self.rating_threshold
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            raise DiceError(
                f"preprocess: rating_threshold must be a finite number, got {threshold!r}"
            )
        if (
            isinstance(self.min_count, bool)
            or not isinstance(self.min_count, int)
            or self.min_count < 0
        ):
            raise DiceError(
                f"preprocess: min_count must be an integer >= 0, got {self.min_count!r}"
            )
        if self.filter not in FILTERS:
            raise DiceError(
                f"preprocess: filter must be one of {', '.join(FILTERS)}, got {self.filter!r}"
            )
        fraction = self.user_fraction
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not 0 < fraction <= 1
        ):
            raise DiceError(f"preprocess: user_fraction must lie in (0, 1], got {fraction!r}")


@dataclass(frozen=True)
class Prepared:
    """Reindexed interactions, the original id of each new index, and per-step counts."""

    interactions: Interactions
    user_ids: NDArray[np.int64]
    item_ids: NDArray[np.int64]
    stats: dict = field(default_factory=dict)


def preprocess(
    ratings: pd.DataFrame, config: PreprocessConfig, *, rng: np.random.Generator
) -> Prepared:
    """Apply the steps of the module docstring to a `load_ratings` frame.

    `rng` is used only for user down-sampling. ``stats`` maps each step (``raw``, ``positive``,
    ``deduplicated``, ``downsampled``, ``filtered``) to its records, users and items.
    """
    missing = [c for c in ("user", "item", "rating", "timestamp") if c not in ratings.columns]
    if missing:
        raise DiceError(f"ratings lack column(s) {', '.join(missing)}")
    stats = {"raw": counts(ratings)}
    frame = ratings.loc[ratings["rating"] >= config.rating_threshold, ["user", "item", "timestamp"]]
    stats["positive"] = counts(frame)
    frame = deduplicate(frame)
    stats["deduplicated"] = counts(frame)
    frame = downsample_users(frame, config.user_fraction, rng=rng)
    stats["downsampled"] = counts(frame)
    frame = filter_counts(frame, config.min_count, mode=config.filter)
    stats["filtered"] = counts(frame)
    if frame.empty:
        raise DiceError(
            "the filter removed every record; lower min_count or rating_threshold "
            f"(min_count={config.min_count}, rating_threshold={config.rating_threshold})"
        )
    return reindex(frame, stats)


def counts(frame: pd.DataFrame) -> dict[str, int]:
    return {
        "records": len(frame),
        "users": frame["user"].nunique(),
        "items": frame["item"].nunique(),
    }


def deduplicate(frame: pd.DataFrame) -> pd.DataFrame:
    """One record per (user, item): the earliest; records come back sorted by time (stable)."""
    ordered = frame.sort_values("timestamp", kind="stable")
    return ordered.drop_duplicates(["user", "item"], keep="first")


def downsample_users(
    frame: pd.DataFrame, fraction: float, *, rng: np.random.Generator
) -> pd.DataFrame:
    """Keep the records of round(fraction * users) users drawn uniformly without replacement."""
    if fraction >= 1:
        return frame
    users = np.unique(frame["user"].to_numpy())
    size = max(1, round(fraction * len(users))) if len(users) else 0
    kept = rng.choice(users, size=size, replace=False)
    return frame[frame["user"].isin(kept)]


def filter_counts(frame: pd.DataFrame, min_count: int, *, mode: str = "one_pass") -> pd.DataFrame:
    """Keep items, then users, with more than `min_count` records; repeat if ``iterative``."""
    while True:
        before = len(frame)
        frame = _keep_more_than(frame, "item", min_count)
        frame = _keep_more_than(frame, "user", min_count)
        if mode == "one_pass" or len(frame) == before:
            return frame


def _keep_more_than(frame: pd.DataFrame, column: str, k: int) -> pd.DataFrame:
    size = frame.groupby(column)[column].transform("size")
    return frame[size > k]


def reindex(frame: pd.DataFrame, stats: dict) -> Prepared:
    """Map users, then items, to 0..n-1 by first appearance in time order."""
    frame = frame.sort_values("timestamp", kind="stable")
    user, user_ids = pd.factorize(frame["user"], sort=False)
    item, item_ids = pd.factorize(frame["item"], sort=False)
    interactions = Interactions(
        user.astype(np.int64), item.astype(np.int64), n_users=len(user_ids), n_items=len(item_ids)
    )
    return Prepared(interactions, _id_array(user_ids), _id_array(item_ids), stats)


def _id_array(ids) -> NDArray:
    """Original ids: int64, or strings (a user's file with text ids)."""
    ids = np.asarray(ids)
    return ids.astype(np.int64) if np.issubdtype(ids.dtype, np.number) else ids.astype(str)


def save_prepared(
    prepared: Prepared, folder: str | Path, *, provenance: dict | None = None
) -> None:
    """Write interactions.parquet, user_ids.parquet, item_ids.parquet and meta.json atomically
    (`provenance`, e.g. the user's file and its SHA-256, goes into meta.json when given)."""
    folder = Path(folder)
    inter = prepared.interactions
    inter.save(folder / "interactions.parquet")
    for name, ids in (("user", prepared.user_ids), ("item", prepared.item_ids)):
        frame = pd.DataFrame({name: np.arange(len(ids), dtype=np.int64), "original_id": ids})
        write_parquet(folder / f"{name}_ids.parquet", frame)
    meta = {"n_users": inter.n_users, "n_items": inter.n_items, "stats": prepared.stats}
    if provenance:
        meta["provenance"] = provenance
    write_json(folder / "meta.json", meta)


def load_prepared(folder: str | Path) -> Prepared:
    """Read what `save_prepared` wrote; a missing or inconsistent file is a DiceError."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        raise DiceError(
            "prepared-data metadata is missing; rerun the preprocess stage", path=meta_path
        )
    meta = read_json(meta_path)
    for key in ("n_users", "n_items"):
        if not isinstance(meta.get(key), int) or meta[key] <= 0:
            raise DiceError(f"metadata lacks a positive integer {key!r}", path=meta_path)
    inter = Interactions.load(
        folder / "interactions.parquet", n_users=meta["n_users"], n_items=meta["n_items"]
    )
    user_ids = _read_id_map(folder / "user_ids.parquet", "user", meta["n_users"])
    item_ids = _read_id_map(folder / "item_ids.parquet", "item", meta["n_items"])
    return Prepared(inter, user_ids, item_ids, meta.get("stats", {}))


def _read_id_map(path: Path, name: str, size: int) -> NDArray:
    frame = read_int_frame(path, (name,))
    if not np.array_equal(frame[name].to_numpy(), np.arange(size)):
        raise DiceError(f"column {name!r} must list 0..{size - 1} in order", path=path)
    original = pd.read_parquet(path, columns=["original_id"])["original_id"]
    if pd.api.types.is_integer_dtype(original):
        return original.to_numpy(np.int64)
    if pd.api.types.is_string_dtype(original):  # text ids of a user's file
        return original.to_numpy(str)
    raise DiceError(f"column 'original_id' must hold integers or strings, not {original.dtype}",
                    path=path)  # fmt: skip
