"""MovieLens-style rating text → the suite's ratings frame, with one-line errors.

`parse_ratings_text` reads the ``dat``, ``tab``, ``csv`` and ``inter`` layouts; `read_numeric_table`
and `ratings_frame` are shared with the Netflix reader (`dice.data.netflix`). Malformed input
raises a one-line `DiceError` naming the file.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from dice.errors import DiceError

COLUMNS: tuple[str, ...] = ("user", "item", "rating", "timestamp")
EXACT_INT = 2.0**53  # larger ids/timestamps would not survive the float64 parse exactly
# format -> (field separator, expected header or None)
_FORMATS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "dat": ("::", None),
    "tab": ("\t", None),
    "csv": (",", ("userId", "movieId", "rating", "timestamp")),
    "inter": ("\t", ("user_id:token", "item_id:token", "rating:float", "timestamp:float")),
}


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
            bad |= (values != np.round(values)) | (np.abs(values) >= EXACT_INT)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = float(values[row])
            what = "missing (wrong column count?)" if np.isnan(value) else f"invalid ({value!r})"
            where = f" in record {row + first_record}" if first_record is not None else ""
            kind = "integer " if must_be_int else ""
            raise DiceError(f"{kind}{name} value {what}{where}", path=path)
        out[name] = values.astype(np.int64) if must_be_int else values
    return pd.DataFrame(out)
