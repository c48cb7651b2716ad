"""Atomic file writes and checked input paths.

Writes go to a temporary name in the same folder, then are renamed: a reader never sees a
half-written file, and a crash leaves the previous version intact. `readable_file` turns every
way an input path can be wrong (missing, a folder, a dangling link, unreadable) into one
`DiceError` line naming the path.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from dice.errors import DiceError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto `path` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    write_with(path, lambda tmp: tmp.write_text(text))


def write_text(path: str | Path, text: str) -> None:
    write_with(path, lambda tmp: tmp.write_text(text))


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    """Write `frame` as Parquet without its index, atomically."""
    write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def save_torch(path: str | Path, obj: Any) -> None:
    """`torch.save` `obj` to `path` atomically and byte-reproducibly.

    `torch.save` to a file name records that name inside its zip archive, so saving to a
    temporary name would make two saves of the same object differ; saving into memory first
    records the fixed name ``archive`` instead.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    write_with(path, lambda tmp: tmp.write_bytes(data))


def readable_file(path: str | Path, *, what: str = "a file", allow_empty: bool = True) -> Path:
    """`path` as a `Path` when it is a regular file this process can read, else a `DiceError`.

    The one-line error names `path`, the problem (not found, a dangling symbolic link, a folder
    or other non-file, unreadable, or empty unless `allow_empty`) and `what` belongs there,
    e.g. ``path: is a folder (expected the ml-10m.zip archive)``.
    """
    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            problem = "is a folder"
        elif not stat.S_ISREG(info.st_mode):
            problem = "is not a regular file"
        else:
            with path.open("rb"):
                pass
            problem = None if allow_empty or info.st_size else "is empty"
    except FileNotFoundError:
        problem = "not found"
        if path.is_symlink():
            problem = f"dangling symbolic link to {os.readlink(path)}"
    except OSError as err:
        problem = f"cannot be read: {err.strerror or type(err).__name__}"
    if problem is not None:
        raise DiceError(f"{problem} (expected {what})", path=path)
    return path


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
