"""Raw rating readers: MovieLens (100K, 1M, 10M, 20M), Netflix Prize and the simulator (SPEC §1).

Every reader returns one frame with columns ``user``, ``item`` (original ids, int64), ``rating``
(float64) and ``timestamp`` (int64, seconds since 1970). Binarisation, filtering and reindexing
are `dice.data.preprocess`'s job. URLs, archive members and checksums come from
``dice/data/catalogue.yaml`` only. Malformed input raises a one-line `DiceError` naming the file.
"""

from __future__ import annotations

import csv
import importlib.resources
import importlib.util
import io
import re
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dice.data import synthetic as simulator
from dice.data.download import fetch, verify_checksum
from dice.errors import DiceError
from dice.seeding import numpy_rng

SOURCES: tuple[str, ...] = ("ml100k", "ml1m", "ml10m", "ml20m", "netflix", "synthetic")
SOURCES_FILE = importlib.resources.files("dice.data") / "catalogue.yaml"  # package data
COLUMNS: tuple[str, ...] = ("user", "item", "rating", "timestamp")
BLOCK_BYTES = 64 << 20  # Netflix text is parsed in blocks of about this size
_EXACT_INT = 2.0**53  # larger ids/timestamps would not survive the float64 parse exactly
# format -> (field separator, expected header or None)
_FORMATS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "dat": ("::", None),
    "tab": ("\t", None),
    "csv": (",", ("userId", "movieId", "rating", "timestamp")),
    "inter": ("\t", ("user_id:token", "item_id:token", "rating:float", "timestamp:float")),
}


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
        verify_checksum(copy, sha256=spec["recbole"]["sha256"])
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


def parse_ratings_text(data: bytes, *, fmt: str, path: str | Path) -> pd.DataFrame:
    """Parse MovieLens-style rating text (`fmt` in ``dat``, ``tab``, ``csv``, ``inter``)."""
    sep, header = _FORMATS[fmt]
    if not data.strip():
        raise DiceError("file is empty", path=path)
    if header is not None:
        first, _, data = data.partition(b"\n")
        found = tuple(first.decode("utf-8", "replace").strip().split(sep))
        if found != header:
            raise DiceError(
                f"unexpected header {sep.join(found)!r}; expected {sep.join(header)!r}", path=path
            )
    data = re.sub(rb"[ \t]+(?=\r?\n|\r|$)", b"", data)  # trailing whitespace is not a field
    if sep == "::":  # parsed as tab-separated text, so a tab of its own would split a field
        if b"\t" in data and re.search(rb"[^\s][^\n]*\t|\t[^\n]*[^\s]", data):
            raise DiceError("unexpected tab character in a '::'-separated file", path=path)
        data, sep = data.replace(b"::", b"\t"), "\t"
    # pandas silently drops an empty last field (index_col=False): a trailing separator is an error
    if re.search(rb"[^\s]" + re.escape(sep.encode()) + rb" *(?:\r\n|\r|\n|$)", data):
        shown = _FORMATS[fmt][0]
        raise DiceError(f"wrong number of columns: a row ends with {shown!r}", path=path)
    table = read_numeric_table(data, names=COLUMNS, sep=sep, path=path)
    if table.empty:
        raise DiceError("file holds no ratings", path=path)
    return ratings_frame(table, path=path)


def read_numeric_table(
    data: bytes, *, names: tuple[str, ...], sep: str, path: str | Path
) -> pd.DataFrame:
    """Read separated numeric text into float64 columns `names`; any parse problem is a DiceError.

    Short rows give NaN (checked by the caller); long rows are an error.
    """
    try:
        with warnings.catch_warnings():  # a first row with extra fields only warns: make it fail
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.BytesIO(data), sep=sep, header=None, names=list(names), dtype="float64",
                index_col=False, quoting=csv.QUOTE_NONE, engine="c",
            )  # fmt: skip
    except pd.errors.EmptyDataError:
        return pd.DataFrame({name: np.empty(0) for name in names})
    except pd.errors.ParserWarning:
        raise DiceError(f"wrong number of columns: expected {len(names)}", path=path) from None
    except Exception as err:  # pandas raises several types (ParserError, ValueError, ...)
        raise DiceError(f"malformed ratings ({type(err).__name__}: {err})", path=path) from None


def ratings_frame(
    table: pd.DataFrame, *, path: str | Path, first_record: int | None = 1
) -> pd.DataFrame:
    """Check parsed float columns and cast them to the `COLUMNS` dtypes.

    `first_record` numbers the table's first row in error messages (``None``: no number).
    """
    out = {}
    for name in COLUMNS:
        values = table[name].to_numpy(np.float64)
        must_be_int = name != "rating"
        bad = ~np.isfinite(values)
        if must_be_int:
            bad |= (values != np.round(values)) | (np.abs(values) >= _EXACT_INT)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = float(values[row])
            what = "missing (wrong column count?)" if np.isnan(value) else f"invalid ({value!r})"
            where = f" in record {row + first_record}" if first_record is not None else ""
            kind = "integer " if must_be_int else ""
            raise DiceError(f"{kind}{name} value {what}{where}", path=path)
        out[name] = values.astype(np.int64) if must_be_int else values
    return pd.DataFrame(out)


# --- Netflix Prize ---------------------------------------------------------------------------


def netflix_ratings(spec: Mapping, raw_dir: Path) -> pd.DataFrame:
    """Ratings from the user-placed Netflix Prize archive or the four Kaggle text files.

    Both hold blocks of a line ``MOVIEID:`` followed by lines ``user,rating,YYYY-MM-DD``.
    """
    archive = raw_dir / spec["archive"]
    kaggle = [raw_dir / name for name in spec["kaggle"]]
    if archive.exists():
        if spec.get("md5"):
            verify_checksum(archive, md5=spec["md5"])
        blocks, label = _tar_blocks(archive, spec["archive_member"]), archive
    elif any(path.exists() for path in kaggle):
        missing = [path.name for path in kaggle if not path.exists()]
        if missing:
            raise DiceError(
                f"incomplete Kaggle Netflix data: also place {', '.join(missing)} here",
                path=raw_dir,
            )
        blocks, label = (block for path in kaggle for block in _file_blocks(path)), raw_dir
    else:
        raise DiceError(_netflix_help(spec, raw_dir))
    try:
        return _parse_netflix(blocks, label)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DiceError(
            f"corrupt or truncated archive ({type(err).__name__}: {err})", path=label
        ) from None


def _netflix_help(spec: Mapping, raw_dir: Path) -> str:
    checksum = f" (md5 {spec['md5']})" if spec.get("md5") else " (no checksum is published)"
    return (
        f"Netflix Prize data not found: place {spec['archive']}{checksum}, the Netflix Prize "
        f"release holding download/{spec['archive_member']}, or the Kaggle files "
        f"{', '.join(spec['kaggle'])} in {raw_dir.resolve()}/"
    )


def _parse_netflix(blocks: Iterator[tuple[Path, bytes]], label: Path) -> pd.DataFrame:
    frames, carry, current = [], None, None
    for path, block in blocks:
        carry = carry if path == current else None  # a movie id never carries across files
        frame, carry = parse_netflix_block(block, carry=carry, path=path)
        frames.append(frame)
        current = path
    if not frames or sum(map(len, frames)) == 0:
        raise DiceError("no Netflix ratings found", path=label)
    return pd.concat(frames, ignore_index=True)


def parse_netflix_block(
    block: bytes, *, carry: int | None, path: str | Path
) -> tuple[pd.DataFrame, int | None]:
    """Parse whole lines of Netflix text; `carry` is the movie id in force at the block start.

    Vectorised: ``-`` becomes a field separator and ``:`` the marker fields ``,-1,-1,-1,-1``
    (no data field can be negative once ``-`` is a separator), so a movie line ``17:`` reads as
    ``17,-1,-1,-1,-1`` and a rating line as ``user,rating,YYYY,MM,DD``; a line with neither
    (``13``) is a malformed rating line. Movie ids are forward-filled. Returns the ratings and
    the movie id in force at the block's end.
    """
    text = block.replace(b"-", b",").replace(b":", b",-1,-1,-1,-1")
    names = ("first", "rating", "year", "month", "day")
    table = read_numeric_table(text, names=names, sep=",", path=path)
    first = table["first"].to_numpy()
    is_movie = (table[list(names[1:])] == -1).all(axis=1).to_numpy()
    ids = first[is_movie]
    if not np.all(np.isfinite(ids) & (ids == np.round(ids)) & (np.abs(ids) < _EXACT_INT)):
        raise DiceError("a 'MOVIEID:' line does not hold an integer id", path=path)
    movie = (
        pd.Series(np.where(is_movie, first, np.nan))
        .ffill()
        .fillna(carry if carry is not None else np.nan)
    )
    if movie.isna().any():
        raise DiceError("ratings before the first 'MOVIEID:' line", path=path)
    rows = ~is_movie
    stamps = _epoch_seconds(table.loc[rows, ["year", "month", "day"]], path=path)
    parsed = pd.DataFrame(
        {
            "user": first[rows],
            "item": movie.to_numpy()[rows],
            "rating": table["rating"].to_numpy()[rows],
            "timestamp": stamps,
        }
    )
    last = int(movie.iloc[-1]) if len(movie) else carry
    return ratings_frame(parsed, path=path, first_record=None), last


def _epoch_seconds(ymd: pd.DataFrame, *, path: str | Path) -> np.ndarray:
    values = ymd.to_numpy()
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        raise DiceError("malformed rating line (expected user,rating,YYYY-MM-DD)", path=path)
    try:
        dates = pd.to_datetime(ymd.astype(np.int64))
    except Exception as err:  # out-of-range month/day/year
        raise DiceError(f"invalid date ({err})", path=path) from None
    return ((dates - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def _file_blocks(path: Path) -> Iterator[tuple[Path, bytes]]:
    """Blocks of whole lines of a text file, each about `BLOCK_BYTES`."""
    with path.open("rb") as handle:
        rest = b""
        while chunk := handle.read(BLOCK_BYTES):
            chunk, rest = rest + chunk, b""
            cut = chunk.rfind(b"\n") + 1
            chunk, rest = chunk[:cut], chunk[cut:]
            if chunk:
                yield path, chunk
        if rest.strip():
            yield path, rest + b"\n"


def _tar_blocks(archive: Path, member: str) -> Iterator[tuple[Path, bytes]]:
    """Stream the movie files of the inner tar `member` of `archive`, batched into blocks."""
    with tarfile.open(archive, mode="r|*") as outer:
        for entry in outer:
            if entry.isfile() and Path(entry.name).name == member:
                with tarfile.open(fileobj=outer.extractfile(entry), mode="r|") as inner:
                    yield from _batch_members(inner, archive)
                return
    raise DiceError(f"archive has no {member}", path=archive)


def _batch_members(inner: tarfile.TarFile, archive: Path) -> Iterator[tuple[Path, bytes]]:
    batch, size = [], 0
    for entry in inner:
        if not (entry.isfile() and entry.name.endswith(".txt")):
            continue
        content = inner.extractfile(entry).read()
        if not content.split(b"\n", 1)[0].rstrip().endswith(b":"):
            raise DiceError(f"{entry.name} does not start with a 'MOVIEID:' line", path=archive)
        batch.append(content if content.endswith(b"\n") else content + b"\n")
        size += len(content)
        if size >= BLOCK_BYTES:
            yield archive, b"".join(batch)
            batch, size = [], 0
    if batch:
        yield archive, b"".join(batch)
