"""Raw rating readers: MovieLens (100K, 1M, 10M, 20M), Netflix Prize and the simulator.

The sources are described in docs/protocol.md#data, where each raw file goes in
docs/data-sources.md.

Every reader returns one frame with columns ``user``, ``item`` (original ids, int64), ``rating``
(float64) and ``timestamp`` (int64, seconds since 1970). Binarisation, filtering and reindexing
are `dice.data.preprocess`'s job; the text parsers are in `dice.data.ratings_text` and
`dice.data.netflix`. URLs, archive members and checksums come from the package's
``dice/data/catalogue.yaml`` only. Malformed input raises a one-line `DiceError` naming the file.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import yaml

from dice.data import synthetic as simulator
from dice.data.download import fetch, verify_checksum
from dice.data.netflix import netflix_ratings, parse_netflix_block
from dice.data.ratings_text import COLUMNS, parse_ratings_text, ratings_frame, read_numeric_table
from dice.errors import DiceError
from dice.io import readable_file
from dice.seeding import numpy_rng

__all__ = [  # the text parsers live in their own modules; importable from here as before
    "COLUMNS", "SOURCES", "load_ratings", "load_sources", "parse_netflix_block",
    "parse_ratings_text", "ratings_frame", "read_numeric_table", "read_zip_member",
]  # fmt: skip

SOURCES: tuple[str, ...] = ("ml100k", "ml1m", "ml10m", "ml20m", "netflix", "synthetic")
SOURCES_FILE = importlib.resources.files("dice.data") / "catalogue.yaml"  # package data


def load_ratings(
    source: str,
    *,
    raw_dir: str | Path,
    synthetic: Mapping | None = None,
    seed: int = 0,
    sources_file: str | Path = SOURCES_FILE,
) -> pd.DataFrame:
    """All ratings of `source` as a frame with columns `COLUMNS`, in file order.

    Args:
        source: one of `SOURCES`.
        raw_dir: the dataset's raw folder: GroupLens archives are downloaded here, the Netflix
            files must be placed here.
        synthetic: simulator parameters (``{"preset": "tiny", ...}``) for ``source="synthetic"``.
        seed: seed of the simulator's generator (purpose ``"synthetic"``).
        sources_file: the URL/checksum table, ``dice/data/catalogue.yaml`` by default.
    """
    if source not in SOURCES:
        raise DiceError(f"unknown dataset source {source!r}; expected one of {', '.join(SOURCES)}")
    if source == "synthetic":
        return simulator.generate(synthetic or {}, rng=numpy_rng(seed, "synthetic"))
    spec = load_sources(sources_file)[source]
    raw_dir = Path(raw_dir)
    if source == "netflix":
        return netflix_ratings(spec, raw_dir)
    if source == "ml100k" and (copy := recbole_copy(spec["recbole"])) is not None:
        verify_checksum(readable_file(copy, what="the recbole wheel's ML-100K file"),
                        sha256=spec["recbole"]["sha256"])  # fmt: skip
        return parse_ratings_text(copy.read_bytes(), fmt=spec["recbole"]["format"], path=copy)
    archive = fetch(spec["url"], raw_dir / spec["archive"], md5=spec.get("md5"))
    data = read_zip_member(archive, spec["member"])
    return parse_ratings_text(data, fmt=spec["format"], path=f"{archive}:{spec['member']}")


def load_sources(path: str | Path = SOURCES_FILE) -> dict:
    """The dataset table of ``dice/data/catalogue.yaml``: source key -> URL, member, checksum."""
    path = Path(path)
    try:
        table = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DiceError(
            f"cannot read the dataset table ({type(err).__name__})", path=path
        ) from None
    missing = [key for key in SOURCES if key != "synthetic" and key not in (table or {})]
    if missing:
        raise DiceError(f"dataset table lacks {', '.join(missing)}", path=path)
    return table


def recbole_copy(spec: Mapping) -> Path | None:
    """The ML-100K file shipped in the recbole wheel, found without importing recbole."""
    found = importlib.util.find_spec(spec["package"])
    for root in (found.submodule_search_locations or []) if found else []:
        candidate = Path(root) / spec["member"]
        if candidate.is_file():
            return candidate
    return None


def read_zip_member(archive: Path, member: str) -> bytes:
    """The bytes of `member` inside the zip `archive`; a bad archive is a one-line error."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            return bundle.read(member)
    except KeyError:
        raise DiceError(f"archive has no member {member}", path=archive) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise DiceError(f"corrupt or truncated zip archive ({err})", path=archive) from None
