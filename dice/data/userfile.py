"""The user's own interactions file (dataset source ``file``) → the suite's ratings frame.

A dataset entry names a local CSV, TSV or Parquet file, which column holds the user, the item
and optionally the rating and the time, whether ids are strings or integers, whether the first
line is a header, and the binarisation rule: the ``preprocess`` rating threshold, or
``implicit`` (every row is a positive). See docs/data-sources.md#your-own-interactions.

`file_spec` fills the entry's defaults and checks what a config can get wrong (run when the
config is validated); `file_sha256` is the file's content hash, part of the data stage's
identity (`dice.plan.data_stage`), so a changed file gets a new data folder and its jobs rerun;
`read_user_file` parses the file with one-line errors naming it and the line. This module
imports pandas only inside `read_user_file`: planning stays fast.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

from dice.data.download import file_digest
from dice.errors import DiceError
from dice.io import readable_file

DEFAULTS = {"header": True, "ids": "string", "implicit": False}
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}
SEPARATORS = {"csv": ",", "tsv": "\t"}
FIELDS = ("user", "item", "rating", "timestamp")


def file_spec(entry: Mapping, *, dataset: str, source: str | Path = "config") -> dict:
    """The entry's ``file`` with every default filled in (``format`` from the extension).

    DiceError (naming `source`) for what the config itself gets wrong: no ``file`` for the
    ``file`` source (or one for another source), a column given by name without a header, no
    rating column and not ``implicit``, a format the extension does not tell.
    """
    where = f"dataset {dataset!r}"
    if entry["source"] != "file":
        if "file" in entry:
            raise DiceError(f"{where}: `file` belongs to source 'file' only", path=source)
        return {}
    if "file" not in entry:
        raise DiceError(f"{where}: source 'file' needs a `file` entry (path, columns)", path=source)
    spec = {**DEFAULTS, **entry["file"]}
    if "format" not in spec:
        suffix = Path(spec["path"]).suffix.lower()
        if suffix not in EXTENSIONS:
            raise DiceError(f"{where}: cannot tell the format of {spec['path']} from its "
                            "extension; set file.format to csv, tsv or parquet", path=source)  # fmt: skip
        spec["format"] = EXTENSIONS[suffix]
    named = [k for k, v in spec["columns"].items() if isinstance(v, str)]
    if named and not spec["header"] and spec["format"] != "parquet":
        raise DiceError(f"{where}: column(s) {', '.join(named)} given by name, but the file has "
                        "no header (header: false): give 0-based positions", path=source)  # fmt: skip
    if "rating" not in spec["columns"] and not spec["implicit"]:
        raise DiceError(f"{where}: no rating column; name it in file.columns.rating, or set "
                        "file.implicit: true (every row is a positive)", path=source)  # fmt: skip
    return spec


def file_sha256(path: str | Path, *, dataset: str) -> str:
    """The SHA-256 of the user's file (cached per path, size and modification time)."""
    path = readable_file(path, what=f"the interactions file of dataset {dataset!r}, as named "
                         f"in datasets.{dataset}.file.path of your config")  # fmt: skip
    info = path.stat()
    return _digest(str(path), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return file_digest(path, "sha256")


def read_user_file(spec: Mapping, *, threshold: float | None, dataset: str):
    """The ratings of the user's file as a frame with columns ``user``, ``item`` (int64, or
    str for ``ids: string``), ``rating`` (float64) and ``timestamp`` (int64 seconds; the row
    number when the file has no time column), in file order.

    `threshold`: the rating threshold (None for implicit data); one that keeps no rating is an
    error. Every problem is a one-line DiceError naming the file (and the line).
    """
    import pandas as pd

    path = readable_file(spec["path"], what=f"the interactions file of dataset {dataset!r}")
    if os.path.getsize(path) == 0:
        raise DiceError("file is empty (expected one row per interaction)", path=path)
    raw, first_line = _read_table(path, spec)
    if raw.empty:
        raise DiceError("file holds no rows (expected one row per interaction)", path=path)
    columns = {name: _column(raw, spec["columns"][name], name, path)
               for name in FIELDS if name in spec["columns"]}  # fmt: skip
    line = lambda row: f"line {row + first_line}" if first_line else f"row {row + 1}"  # noqa: E731
    out = {name: _ids(columns[name], name, spec["ids"], path, line) for name in ("user", "item")}
    if "rating" in columns and not spec["implicit"]:
        out["rating"] = _numbers(columns["rating"], "rating", path, line)
    else:
        out["rating"] = pd.Series(1.0, index=raw.index)
    if "timestamp" in columns:
        out["timestamp"] = _times(columns["timestamp"], path, line)
    else:
        out["timestamp"] = pd.Series(range(len(raw)), index=raw.index, dtype="int64")
    frame = pd.DataFrame(out).reset_index(drop=True)
    if threshold is not None and not spec["implicit"] and not (frame["rating"] >= threshold).any():
        low, high = frame["rating"].min(), frame["rating"].max()
        raise DiceError(f"no rating is >= rating_threshold {threshold:g} (ratings lie in "
                        f"{low:g}..{high:g}): lower preprocess.rating_threshold of dataset "
                        f"{dataset!r}, or set file.implicit: true", path=path)  # fmt: skip
    return frame


def _read_table(path: Path, spec: Mapping):
    """(every field as a string column, line number of the first row or 0 for Parquet)."""
    import pandas as pd

    if spec["format"] == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several types for bad files
            raise DiceError(
                f"cannot read Parquet ({type(err).__name__}: {err})", path=path
            ) from None
        _check_unique(list(frame.columns), path)
        return frame, 0
    sep, header = SEPARATORS[spec["format"]], spec["header"]
    if header:
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            import csv

            names = next(csv.reader(handle, delimiter=sep), [])
        _check_unique([n.strip() for n in names], path)
    try:
        frame = pd.read_csv(path, sep=sep, header=0 if header else None, dtype=str,
                            keep_default_na=False, skip_blank_lines=False, encoding="utf-8")  # fmt: skip
    except pd.errors.EmptyDataError:
        raise DiceError("file is empty (expected one row per interaction)", path=path) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DiceError(f"malformed {spec['format']} ({' '.join(str(err).split())})",
                        path=path) from None  # fmt: skip
    frame.columns = [c.strip() if isinstance(c, str) else c for c in frame.columns]
    blank = frame.fillna("").apply(lambda col: col.str.strip() == "").all(axis=1)
    end = len(frame)
    while end and blank.iloc[end - 1]:  # trailing empty lines are not rows
        end -= 1
    return frame.iloc[:end], 2 if header else 1


def _check_unique(names: list, path: Path) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise DiceError(f"duplicate column name {name!r} in the header", path=path)
        seen.add(name)


def _column(raw, key, field: str, path: Path):
    """The column `key` (a header name or a 0-based position) of `raw`."""
    if isinstance(key, int):
        if key >= raw.shape[1]:
            raise DiceError(f"no column {key} for the {field} (rows have {raw.shape[1]} fields, "
                            "positions count from 0)", path=path)  # fmt: skip
        return raw.iloc[:, key]
    if key not in raw.columns:
        names = ", ".join(str(c) for c in raw.columns)
        raise DiceError(f"no column {key!r} for the {field} (the header has {names})", path=path)
    return raw[key]


def _first_bad(bad, values, field: str, problem: str, path: Path, line) -> None:
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        value = values.iloc[row]
        shown = "empty" if value is None or str(value).strip() in ("", "nan") else repr(value)
        raise DiceError(f"{line(row)}: {field} {shown} {problem}", path=path)


def _ids(values, field: str, kind: str, path: Path, line):
    import pandas as pd

    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("int64") if kind == "integer" else values.astype(str)
    text = values.astype(str).str.strip()
    empty = values.isna() | (text == "")
    _first_bad(empty, values, f"{field} id", "is missing", path, line)
    if kind == "string":
        return text
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() | (numbers != numbers.round()) | (numbers.abs() >= 2.0**53)
    hint = "is not an integer (set file.ids: string for text ids)"
    _first_bad(bad, values, f"{field} id", hint, path, line)
    return numbers.astype("int64")


def _numbers(values, field: str, path: Path, line):
    import numpy as np
    import pandas as pd

    numbers = pd.to_numeric(values.astype(str).str.strip(), errors="coerce").astype("float64")
    _first_bad(~np.isfinite(numbers), values, field, "is not a number", path, line)
    return numbers


def _times(values, path: Path, line):
    """Integer seconds, or ISO 8601 dates (as seconds since 1970, UTC)."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = values.astype(str)
    text = values.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    problem = "is neither integer seconds nor an ISO 8601 date"
    if numbers.notna().iloc[0]:  # the first row tells: seconds, or dates
        bad = numbers.isna() | (numbers != numbers.round()) | (numbers.abs() >= 2.0**53)
        _first_bad(bad, values, "timestamp", problem, path, line)
        return numbers.astype("int64")
    dates = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    _first_bad(dates.isna(), values, "timestamp", problem, path, line)
    return (dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
