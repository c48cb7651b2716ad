"""Interactions and splits: the integer (user, item) arrays every stage passes on.

On disk an `Interactions` is a Parquet file with int64 columns ``user`` and ``item``; a `Split` is
a folder holding one such file per part (`PARTS`) plus ``meta.json`` with ``n_users`` and
``n_items`` (shared by all parts, as in the official code where every matrix has the full shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from dice.errors import DiceError
from dice.io import read_json, write_json, write_parquet

PARTS: tuple[str, ...] = ("train_normal", "train_intervened", "valid", "test")
TRAIN_PARTS: tuple[str, ...] = ("train_normal", "train_intervened")


@dataclass(frozen=True)
class Interactions:
    """Binary implicit feedback: parallel int64 arrays of user and item ids."""

    user: NDArray[np.int64]
    item: NDArray[np.int64]
    n_users: int
    n_items: int

    def __post_init__(self) -> None:
        if self.user.shape != self.item.shape or self.user.ndim != 1:
            raise ValueError("user and item must be 1-d arrays of equal length")
        if len(self.user) and (self.user.min() < 0 or self.user.max() >= self.n_users):
            raise ValueError(f"user ids must lie in [0, {self.n_users})")
        if len(self.item) and (self.item.min() < 0 or self.item.max() >= self.n_items):
            raise ValueError(f"item ids must lie in [0, {self.n_items})")

    def __len__(self) -> int:
        return len(self.user)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, n_users: int, n_items: int) -> Interactions:
        return cls(
            frame["user"].to_numpy(np.int64), frame["item"].to_numpy(np.int64), n_users, n_items
        )

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"user": self.user, "item": self.item})

    def keys(self) -> NDArray[np.int64]:
        """One int64 key per record, ``user * n_items + item`` (unique per pair)."""
        return self.user * np.int64(self.n_items) + self.item

    def item_counts(self) -> NDArray[np.int64]:
        """Records per item (length ``n_items``): the popularity of each item in this data."""
        return np.bincount(self.item, minlength=self.n_items).astype(np.int64)

    def csr(self) -> sp.csr_matrix:
        """The (n_users, n_items) 0/1 matrix with sorted column indices per row."""
        data = np.ones(len(self), dtype=np.float32)
        mat = sp.csr_matrix((data, (self.user, self.item)), shape=(self.n_users, self.n_items))
        mat.sum_duplicates()
        mat.data[:] = 1.0
        mat.sort_indices()
        return mat

    def concat(self, other: Interactions) -> Interactions:
        if (self.n_users, self.n_items) != (other.n_users, other.n_items):
            raise ValueError("cannot concatenate interactions of different shapes")
        return Interactions(
            np.concatenate([self.user, other.user]),
            np.concatenate([self.item, other.item]),
            self.n_users,
            self.n_items,
        )

    def save(self, path: str | Path) -> None:
        write_parquet(path, self.to_frame())

    @classmethod
    def load(cls, path: str | Path, *, n_users: int, n_items: int) -> Interactions:
        frame = read_int_frame(path, ("user", "item"))
        try:
            return cls.from_frame(frame, n_users=n_users, n_items=n_items)
        except ValueError as err:
            raise DiceError(str(err), path=path) from None


@dataclass(frozen=True)
class Split:
    """The intervened split of one dataset: normal train, intervened train, valid, test."""

    train_normal: Interactions
    train_intervened: Interactions
    valid: Interactions
    test: Interactions

    @property
    def n_users(self) -> int:
        return self.train_normal.n_users

    @property
    def n_items(self) -> int:
        return self.train_normal.n_items

    def part(self, name: str) -> Interactions:
        if name not in PARTS:
            raise KeyError(f"unknown split part {name!r}; expected one of {PARTS}")
        return getattr(self, name)

    @property
    def train(self) -> Interactions:
        """Normal + intervened training records (the official code's "blend")."""
        return self.train_normal.concat(self.train_intervened)

    def save(self, folder: str | Path, *, meta: dict | None = None) -> None:
        folder = Path(folder)
        for name in PARTS:
            self.part(name).save(folder / f"{name}.parquet")
        write_json(
            folder / "meta.json",
            {"n_users": self.n_users, "n_items": self.n_items, **(meta or {})},
        )

    @classmethod
    def load(cls, folder: str | Path) -> Split:
        return cls.load_files(split_files(folder), Path(folder) / "meta.json")

    @classmethod
    def load_files(cls, files: dict[str, Path], meta_path: str | Path) -> Split:
        meta = read_split_meta(meta_path)
        parts = {
            name: Interactions.load(files[name], n_users=meta["n_users"], n_items=meta["n_items"])
            for name in PARTS
        }
        return cls(**parts)


def split_files(folder: str | Path) -> dict[str, Path]:
    """The Parquet path of each part of the split stored in `folder`."""
    return {name: Path(folder) / f"{name}.parquet" for name in PARTS}


def read_split_meta(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise DiceError("split metadata is missing; rerun the split stage", path=path)
    meta = read_json(path)
    for key in ("n_users", "n_items"):
        if not isinstance(meta.get(key), int) or meta[key] <= 0:
            raise DiceError(f"split metadata lacks a positive integer {key!r}", path=path)
    return meta


def read_int_frame(path: str | Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a Parquet file whose `columns` must exist and hold integers."""
    path = Path(path)
    if not path.exists():
        raise DiceError("file is missing", path=path)
    try:
        frame = pd.read_parquet(path, columns=list(columns))
    except Exception as err:  # pyarrow raises several types for bad files
        raise DiceError(f"cannot read Parquet ({type(err).__name__}: {err})", path=path) from None
    for col in columns:
        if not pd.api.types.is_integer_dtype(frame[col]):
            raise DiceError(f"column {col!r} must hold integers, not {frame[col].dtype}", path=path)
    return frame
