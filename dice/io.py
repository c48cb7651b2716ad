"""Atomic file writes: write to a temporary name in the same folder, then rename.

A reader never sees a half-written file, and a crash leaves the previous version intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


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
