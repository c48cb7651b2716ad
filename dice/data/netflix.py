"""The Netflix Prize ratings: the user-placed release archive or the four Kaggle text files.

Both hold blocks of a line ``MOVIEID:`` followed by lines ``user,rating,YYYY-MM-DD``; they are
parsed in blocks of about `BLOCK_BYTES`, vectorised (see `parse_netflix_block`).
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from dice.data.download import verify_checksum
from dice.data.ratings_text import EXACT_INT, ratings_frame, read_numeric_table
from dice.errors import DiceError

BLOCK_BYTES = 64 << 20  # Netflix text is parsed in blocks of about this size


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
    if not np.all(np.isfinite(ids) & (ids == np.round(ids)) & (np.abs(ids) < EXACT_INT)):
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
