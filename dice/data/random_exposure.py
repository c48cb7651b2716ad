"""Datasets whose test part was collected under random exposure: Yahoo! R3, Coat, KuaiRec.

Each is read from the files its publisher distributes, placed by the user in
``resources/raw/<source>/`` (never downloaded, never committed; docs/data-sources.md, "Random-
exposure test sets"). Protocol: the self-selected (biased) part is the training data; the
random-exposure part, binarised the same way, is cut by a seeded generator into an intervened
training share, validation and test (`random_exposure_split`).

Files and layouts (as published):

* Yahoo! R3 (Yahoo Webscope): ``ydata-ymusic-rating-study-v1_0-train.txt`` (self-selected) and
  ``ydata-ymusic-rating-study-v1_0-test.txt`` (random exposure), ``user<TAB>item<TAB>rating``.
* Coat (Schnabel et al., ICML'16): ``train.ascii`` (self-selected) and ``test.ascii`` (random
  exposure), each a users × items matrix of ratings 1-5 separated by spaces, 0 = no rating.
* KuaiRec (Gao et al., CIKM'22): ``big_matrix.csv`` (training) and ``small_matrix.csv`` (the
  fully observed matrix), CSV with a header holding ``user_id``, ``video_id``, ``watch_ratio``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dice.data.interactions import Interactions, Split
from dice.errors import DiceError
from dice.io import readable_file
from dice.settings import setting

#: source -> (biased file, random-exposure file, where to get them: the publisher's page)
FILES: dict[str, tuple[str, str, str]] = {
    "yahoo_r3": ("ydata-ymusic-rating-study-v1_0-train.txt",
                 "ydata-ymusic-rating-study-v1_0-test.txt",
                 "Yahoo! Webscope dataset R3, after accepting its licence "
                 "(https://webscope.sandbox.yahoo.com/catalog.php?datatype=r&did=3)"),
    "coat": ("train.ascii", "test.ascii",
             "the Coat data of Schnabel et al., ICML'16 (https://www.cs.cornell.edu/~schnabts/mnar/)"),
    "kuairec": ("big_matrix.csv", "small_matrix.csv",
                "KuaiRec 2.0, folder 'KuaiRec 2.0/data' of its archive (https://kuairec.com)"),
}  # fmt: skip
SOURCES: tuple[str, ...] = tuple(FILES)
RANDOM_FILE = "random.parquet"  # the random-exposure positives, beside interactions.parquet

AUTODEBIAS = ("Chen et al., \"AutoDebias: Learning to Debias for Recommendation\", SIGIR'21, its "
              "implicit-feedback experiments on Yahoo!R3 and Coat (the rule as the authors' code "
              "applies it; the paper's section was not re-read): github.com/DongHande/AutoDebias@"
              "3f101859668dad3a72197222fad5c0a0829ba9d9 utils/load_dataset.py, threshold=4, a rating "
              ">= threshold is 1 in both parts")  # fmt: skip
KUAIREC = ("the publishers of KuaiRec (Gao et al., \"KuaiRec: A Fully-observed Dataset and Insights "
           "for Evaluating Recommender Systems\", CIKM'22), README of github.com/chongminggao/"
           "KuaiRec@85db04a562787d10757dacbe8a9b5b8f6c3eb42d, on the fields of big_matrix.csv and "
           "small_matrix.csv: 'like = 1 if watch_ratio > 2.0'")  # fmt: skip


@dataclass(frozen=True)
class PositiveRules:
    """Which ratings of each source are positives, in both parts: those >= the value (unless the
    dataset's own ``preprocess.rating_threshold`` sets another). docs/data-sources.md."""

    yahoo_r3: float = setting(
        4.0, doc="ratings 1-5: a rating >= 4 is a positive", source=AUTODEBIAS
    )
    coat: float = setting(4.0, doc="ratings 1-5: a rating >= 4 is a positive", source=AUTODEBIAS)
    kuairec: float = setting(
        math.nextafter(2.0, math.inf),
        doc="watch_ratio > 2 is a positive: the threshold is the least float64 above 2, so that "
        ">= it is > 2 (a ratio of exactly 2.0 is not a positive)", source=KUAIREC)  # fmt: skip


def source_preprocess(source: str) -> dict:
    """The preprocess settings `source` sets unless a dataset's own ``preprocess`` does: the
    rating threshold of its positives (`PositiveRules`; it replaces the top-level one)."""
    return {"rating_threshold": getattr(PositiveRules(), source)}


def read_parts(source: str, raw_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(self-selected, random-exposure) ratings of `source` as frames user, item, rating."""
    biased, random = (_READERS[source](path) for path in placed_files(source, raw_dir))
    return biased, random


def placed_files(source: str, raw_dir: str | Path, *, dataset: str | None = None) -> list[Path]:
    """The paths of `source`'s two files in `raw_dir`, each a readable, non-empty file, else one
    line naming the first absent one (absolute path), the publisher's page and the other file if
    it is absent too: called when the workflow is planned, so nothing runs without them."""
    paths = [Path(raw_dir).absolute() / name for name in FILES[source][:2]]
    absent = [p.name for p in paths if not p.exists()]
    for path in paths:
        also = [name for name in absent if name != path.name]
        what = (f"{path.name}{f' of dataset {dataset!r}' if dataset else ''}, from "
                f"{FILES[source][2]}: place the publisher's file there, unchanged"
                + (f"; {also[0]} is missing too" if also else ""))  # fmt: skip
        readable_file(path, what=what, allow_empty=False)
    return paths


def placed_sha256(
    source: str, raw_dir: str | Path, *, dataset: str | None = None
) -> dict[str, str]:
    """The SHA-256 of each of `source`'s files placed in `raw_dir`, part of the data stage's
    identity: a replaced file gets a new data folder. DiceError when one is absent
    (`placed_files`)."""
    from dice.data.userfile import file_sha256

    return {path.name: file_sha256(path, dataset=dataset or source)
            for path in placed_files(source, raw_dir, dataset=dataset)}  # fmt: skip


def _read_yahoo(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep="\t", header=None, names=["user", "item", "rating"],
                            dtype="float64", engine="c")  # fmt: skip
    except Exception as err:  # pandas raises several types
        raise DiceError(f"malformed ratings ({type(err).__name__}: {err})", path=path) from None
    return _checked(frame, path)


def _read_coat(path: Path) -> pd.DataFrame:
    try:
        matrix = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise DiceError(f"not a matrix of ratings ({err})", path=path) from None
    user, item = np.nonzero(matrix)
    return _checked(pd.DataFrame({"user": user, "item": item, "rating": matrix[user, item]}), path)


def _read_kuairec(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, usecols=["user_id", "video_id", "watch_ratio"])
    except ValueError as err:
        raise DiceError(f"lacks a column of user_id, video_id, watch_ratio ({err})",
                        path=path) from None  # fmt: skip
    frame = frame.rename(columns={"user_id": "user", "video_id": "item", "watch_ratio": "rating"})
    return _checked(frame.astype("float64"), path)


_READERS = {"yahoo_r3": _read_yahoo, "coat": _read_coat, "kuairec": _read_kuairec}


def _checked(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    if frame.empty:
        raise DiceError("file holds no ratings", path=path)
    values = frame[["user", "item"]].to_numpy()
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
    bad_rating = ~np.isfinite(frame["rating"].to_numpy())
    if bad.any() or bad_rating.any():
        row = int(np.flatnonzero(bad.any(axis=1) | bad_rating)[0])
        raise DiceError(f"record {row + 1}: invalid id or rating", path=path)
    return pd.DataFrame({"user": frame["user"].astype(np.int64),
                         "item": frame["item"].astype(np.int64), "rating": frame["rating"]})  # fmt: skip


def binarised(biased: pd.DataFrame, random: pd.DataFrame, threshold: float):
    """(biased positives, random positives, original user ids, original item ids): ratings >=
    `threshold`, one record per pair, both parts indexed over the union of their ids; random
    positives already in the biased part are dropped (a pair is in one part only)."""
    parts = [
        p.loc[p["rating"] >= threshold, ["user", "item"]].drop_duplicates()
        for p in (biased, random)
    ]
    if parts[1].empty:
        raise DiceError(f"no random-exposure rating is >= rating_threshold {threshold:g}")
    users = pd.Index(pd.unique(pd.concat([parts[0]["user"], parts[1]["user"]])))
    items = pd.Index(pd.unique(pd.concat([parts[0]["item"], parts[1]["item"]])))
    coded = [Interactions(users.get_indexer(p["user"]).astype(np.int64),
                          items.get_indexer(p["item"]).astype(np.int64), len(users), len(items))
             for p in parts]  # fmt: skip
    train, rand = coded
    rand_keep = ~np.isin(rand.keys(), train.keys())
    rand = Interactions(rand.user[rand_keep], rand.item[rand_keep], len(users), len(items))
    return train, rand, users.to_numpy(np.int64), items.to_numpy(np.int64)


def random_exposure_split(
    train: Interactions,
    random: Interactions,
    *,
    intervened_train_share: float,
    valid_share: float,
    test_share: float,
    rng: np.random.Generator,
) -> Split:
    """Biased part → normal train; the random-exposure part shuffled by `rng` and cut: the first
    `intervened_train_share` of it to intervened train, the rest into validation and test in the
    ratio ``valid_share : test_share``. Each part sorted by user then item."""
    order = rng.permutation(len(random))
    n_int = int(round(intervened_train_share * len(random)))
    rest = len(random) - n_int
    n_valid = int(round(rest * valid_share / (valid_share + test_share)))
    cuts = {"train_intervened": order[:n_int], "valid": order[n_int : n_int + n_valid],
            "test": order[n_int + n_valid :]}  # fmt: skip
    parts = {
        name: _sorted(random.user[idx], random.item[idx], random) for name, idx in cuts.items()
    }
    return Split(train_normal=_sorted(train.user, train.item, train), **parts)


def _sorted(user, item, like: Interactions) -> Interactions:
    order = np.lexsort((item, user))
    return Interactions(user[order], item[order], like.n_users, like.n_items)


# --- the stages (called by dice.runs.prepare_dataset and split_dataset) --------------------------


def prepare_random_exposure(source: str, raw_dir: Path, config, *, out: Path) -> dict:
    """The user's files → ``interactions.parquet`` (biased positives, no count filter: the test
    must keep its users) and ``random.parquet`` (random-exposure positives) in `out`."""
    from dice.data.preprocess import Prepared, counts, save_prepared

    biased, random = read_parts(source, raw_dir)
    train, rand, users, items = binarised(biased, random, config.rating_threshold)
    stats = {"raw": counts(biased), "raw_random": counts(random),
             "positive": counts(train.to_frame()), "positive_random": counts(rand.to_frame())}  # fmt: skip
    save_prepared(Prepared(train, users, items, stats), out,
                  provenance={"source": source, "random_exposure": RANDOM_FILE})  # fmt: skip
    rand.save(Path(out) / RANDOM_FILE)
    return stats


def split_random_exposure(data_dir: Path, prepared, options: dict, *, rng: np.random.Generator):
    """(the split of `random_exposure_split`, all positives of both parts)."""
    inter = prepared.interactions
    rand = Interactions.load(Path(data_dir) / RANDOM_FILE, n_users=inter.n_users,
                             n_items=inter.n_items)  # fmt: skip
    shares = {k: options[k] for k in ("intervened_train_share", "valid_share", "test_share")}
    return random_exposure_split(inter, rand, **shares, rng=rng), inter.concat(rand)
