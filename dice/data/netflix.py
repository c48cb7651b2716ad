"""The Netflix Prize ratings: the user-placed release archive or the four Kaggle text files.

Both hold blocks of a line ``MOVIEID:`` followed by lines ``user,rating,YYYY-MM-DD``; they are
parsed in blocks of about `BLOCK_BYTES`, vectorised (see `parse_netflix_block`).
"""

from __future__ import annotations

import os
import re
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from dice.data.download import verify_checksum
from dice.data.ratings_text import EXACT_INT, ratings_frame, read_numeric_table
from dice.errors import DiceError
from dice.io import readable_file

BLOCK_BYTES = 64 << 20  # Netflix text is parsed in blocks of about this size


def netflix_ratings(spec: Mapping, raw_dir: Path) -> pd.DataFrame:
    """Ratings from the user-placed Netflix Prize archive or the four Kaggle text files.

    Both hold blocks of a line ``MOVIEID:`` followed by lines ``user,rating,YYYY-MM-DD``. The
    Kaggle files are all or nothing: each of the four must be there and hold ratings.
    """
    archive = raw_dir / spec["archive"]
    kaggle = [raw_dir / name for name in spec["kaggle"]]
    if os.path.lexists(archive):
        readable_file(archive, what=f"the Netflix Prize archive {spec['archive']}")
        if spec.get("md5"):
            verify_checksum(archive, md5=spec["md5"])
        blocks, files = _tar_blocks(archive, spec["archive_member"]), [archive]
    elif any(os.path.lexists(path) for path in kaggle):
        _check_kaggle_files(kaggle, raw_dir)
        blocks, files = (block for path in kaggle for block in _file_blocks(path)), kaggle
    else:
        raise DiceError(_netflix_help(spec, raw_dir))
    label = files[0] if len(files) == 1 else raw_dir
    try:
        return _parse_netflix(blocks, files, label=label)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DiceError(
            f"corrupt or truncated archive ({type(err).__name__}: {err})", path=label
        ) from None


def _check_kaggle_files(kaggle: list[Path], raw_dir: Path) -> None:
    """All four Kaggle files must be readable, non-empty files: a missing one loses data."""
    missing = [path.name for path in kaggle if not os.path.lexists(path)]
    if missing:
        raise DiceError(
            f"incomplete Kaggle Netflix data: also place {', '.join(missing)} here "
            f"(all {len(kaggle)} files are needed)",
            path=raw_dir,
        )
    for path in kaggle:
        what = f"one of the {len(kaggle)} Kaggle Netflix files, all of which are needed"
        readable_file(path, what=what, allow_empty=False)


def _netflix_help(spec: Mapping, raw_dir: Path) -> str:
    checksum = f" (md5 {spec['md5']})" if spec.get("md5") else " (no checksum is published)"
    return (
        f"Netflix Prize data not found: place {spec['archive']}{checksum}, the Netflix Prize "
        f"release holding download/{spec['archive_member']}, or the Kaggle files "
        f"{', '.join(spec['kaggle'])} in {raw_dir.resolve()}/"
    )


def _parse_netflix(
    blocks: Iterator[tuple[Path, bytes, int | None]], files: list[Path], *, label: Path
) -> pd.DataFrame:
    frames, carry, current, counts = [], None, None, dict.fromkeys(files, 0)
    for path, block, first_line in blocks:
        carry = carry if path == current else None  # a movie id never carries across files
        frame, carry = parse_netflix_block(block, carry=carry, path=path, first_line=first_line)
        frames.append(frame)
        counts[path] += len(frame)
        current = path
    if not frames or sum(map(len, frames)) == 0:
        raise DiceError("no Netflix ratings found", path=label)
    for path, count in counts.items():
        if count == 0:
            raise DiceError(f"holds no ratings; all {len(files)} files are needed", path=path)
    return pd.concat(frames, ignore_index=True)


def parse_netflix_block(
    block: bytes, *, carry: int | None, path: str | Path, first_line: int | None = None
) -> tuple[pd.DataFrame, int | None]:
    """Parse whole lines of Netflix text; `carry` is the movie id in force at the block start.

    Malformed text is a `DiceError` naming `path`, the first bad line (its number, counted from
    `first_line`, when that is given) and what is wrong with it.
    """
    try:
        return _parse_block(block, carry=carry, path=path)
    except DiceError:
        found = first_bad_line(block, first_line=first_line, movie_seen=carry is not None)
        if found is None:
            raise
        raise DiceError(found, path=path) from None


def _parse_block(
    block: bytes, *, carry: int | None, path: str | Path
) -> tuple[pd.DataFrame, int | None]:
    """The vectorised parse behind `parse_netflix_block`.

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


def first_bad_line(block: bytes, *, first_line: int | None, movie_seen: bool) -> str | None:
    """Describe the first malformed line of Netflix text, or ``None`` when every line is fine.

    Slow (line by line): only called once the vectorised parse has failed, to say where.
    """
    for number, raw in enumerate(block.split(b"\n"), start=first_line or 1):
        line = raw.strip().decode("utf-8", "replace")
        if not line:
            continue
        problem = _line_problem(line)
        if problem is None and not line.endswith(":") and not movie_seen:
            problem = "a rating before the first 'MOVIEID:' line"
        movie_seen = movie_seen or line.endswith(":")
        if problem is not None:
            where = f"line {number}" if first_line is not None else "line"
            return f"{where} {line[:60]!r}: {problem}"
    return None


def _line_problem(line: str) -> str | None:
    if line.endswith(":"):
        ok = re.fullmatch(r"\d+", line[:-1].strip()) is not None
        return None if ok else "the movie id of a 'MOVIEID:' line is not a non-negative integer"
    fields = line.split(",")
    if len(fields) != 3:
        return f"{len(fields)} comma-separated fields; expected user,rating,YYYY-MM-DD"
    user, rating, date = (field.strip() for field in fields)
    if re.fullmatch(r"\d+", user) is None:
        return f"user id {user!r} is not a non-negative integer"
    if re.fullmatch(r"\d+(\.\d*)?", rating) is None:
        return f"rating {rating!r} is not a non-negative number"
    match = re.fullmatch(r"(\d{1,4})-(\d{1,2})-(\d{1,2})", date)
    if match is None:
        return f"date {date!r} is not YYYY-MM-DD"
    try:
        pd.Timestamp(*map(int, match.groups()))
    except ValueError:
        return f"invalid date {date!r}"
    return None


def _epoch_seconds(ymd: pd.DataFrame, *, path: str | Path) -> np.ndarray:
    values = ymd.to_numpy()
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        raise DiceError("malformed rating line (expected user,rating,YYYY-MM-DD)", path=path)
    try:
        dates = pd.to_datetime(ymd.astype(np.int64))
    except Exception as err:  # out-of-range month/day/year
        raise DiceError(f"invalid date ({err})", path=path) from None
    return ((dates - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def _file_blocks(path: Path) -> Iterator[tuple[Path, bytes, int]]:
    """Blocks of whole lines of a text file, each about `BLOCK_BYTES`, with their first line."""
    with path.open("rb") as handle:
        rest, line = b"", 1
        while chunk := handle.read(BLOCK_BYTES):
            chunk, rest = rest + chunk, b""
            cut = chunk.rfind(b"\n") + 1
            chunk, rest = chunk[:cut], chunk[cut:]
            if chunk:
                yield path, chunk, line
                line += chunk.count(b"\n")
        if rest.strip():
            yield path, rest + b"\n", line


def _tar_blocks(archive: Path, member: str) -> Iterator[tuple[Path, bytes, None]]:
    """Stream the movie files of the inner tar `member` of `archive`, batched into blocks."""
    with tarfile.open(archive, mode="r|*") as outer:
        for entry in outer:
            if entry.isfile() and Path(entry.name).name == member:
                with tarfile.open(fileobj=outer.extractfile(entry), mode="r|") as inner:
                    yield from _batch_members(inner, archive)
                return
    raise DiceError(f"archive has no {member}", path=archive)


def _batch_members(inner: tarfile.TarFile, archive: Path) -> Iterator[tuple[Path, bytes, None]]:
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
            yield archive, b"".join(batch), None  # lines of many members: no line numbers
            batch, size = [], 0
    if batch:
        yield archive, b"".join(batch), None
