"""Parity mode: the authors' released, preprocessed splits read as they are.

The official repository ships ``data/ml10m.zip`` and ``data/netflix.zip`` (user-placed here as
``resources/raw/dice-ml10m/ml10m.zip`` and ``resources/raw/dice-netflix/netflix.zip``). Each holds
the files of docs/authors-code.md#files (parity mode itself: docs/reproducibility.md): scipy
COO matrices of shape (U, I) saved with ``sp.save_npz``,

    train_coo_record.npz       normal train (60 %)          → train_normal
    train_skew_coo_record.npz  intervened train (10 %)      → train_intervened
    val_coo_record.npz         validation (10 %)            → valid
    test_coo_record.npz        test (20 %)                  → test

plus popularity ``.npy`` arrays. The folder inside the archive is not documented, so members are
found by file name anywhere in it. Popularity is recomputed from the parts (the suite's leakage
guards demand training-only counts); the shipped arrays are only compared with it and the
outcome recorded in the split's metadata.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import scipy.sparse as sp

from dice.data.interactions import PARTS, Interactions, Split
from dice.errors import DiceError
from dice.io import readable_file

log = logging.getLogger("dice.parity")
REPOSITORY = "https://github.com/tsinghua-fib-lab/DICE"
ARCHIVES: dict[str, str] = {"dice-ml10m": "ml10m.zip", "dice-netflix": "netflix.zip"}
MEMBERS: dict[str, str] = {
    "train_normal": "train_coo_record.npz",
    "train_intervened": "train_skew_coo_record.npz",
    "valid": "val_coo_record.npz",
    "test": "test_coo_record.npz",
}
# Which training parts each shipped popularity array counts (docs/authors-code.md#files)
POPULARITY: dict[str, tuple[str, ...]] = {
    "popularity.npy": ("train_normal",),
    "popularity_skew.npy": ("train_intervened",),
    "popularity_blend.npy": ("train_normal", "train_intervened"),
    "popularity_all.npy": PARTS,
}


def archive_path(source: str, raw_dir: str | Path) -> Path:
    """Where the archive of parity source `source` (``dice-ml10m``, ``dice-netflix``) belongs."""
    if source not in ARCHIVES:
        raise DiceError(f"unknown parity source {source!r}; expected one of {', '.join(ARCHIVES)}")
    return Path(raw_dir) / ARCHIVES[source]


def read_parity_archive(path: str | Path) -> Split:
    """The four parts of the authors' split stored in the zip at `path`."""
    return read_parity_archive_with_checks(path)[0]


def read_parity_archive_with_checks(path: str | Path) -> tuple[Split, dict]:
    """`read_parity_archive` plus how the shipped popularity arrays compare with the parts."""
    path = Path(path)
    if not os.path.lexists(path):
        raise DiceError(
            "the authors' preprocessed archive is not here: place data/"
            f"{path.name} of {REPOSITORY} at this path",
            path=path,
        )
    readable_file(path, what=f"the zip archive data/{path.name} of {REPOSITORY}")
    try:
        with zipfile.ZipFile(path) as bundle:
            members = _find_members(bundle, path)
            matrices = {
                part: _load_matrix(bundle, members[name], path) for part, name in MEMBERS.items()
            }
            split = _split_from(matrices, path)
            checks = {
                name: _popularity_check(bundle, members[name], split, parts, path)
                for name, parts in POPULARITY.items()
                if name in members
            }
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise DiceError(f"corrupt or truncated zip archive ({err})", path=path) from None
    return split, checks


def _find_members(bundle: zipfile.ZipFile, path: Path) -> dict[str, str]:
    """File name → member name, for the files this module reads, in any folder of the zip."""
    wanted = set(MEMBERS.values()) | set(POPULARITY)
    found: dict[str, list[str]] = {}
    for member in bundle.namelist():
        parts = PurePosixPath(member).parts
        if parts and parts[0] != "__MACOSX" and parts[-1] in wanted:
            found.setdefault(parts[-1], []).append(member)
    for name, where in found.items():
        if len(where) > 1:
            raise DiceError(f"archive holds {name} twice ({', '.join(where)})", path=path)
    missing = [name for name in MEMBERS.values() if name not in found]
    if missing:
        raise DiceError(
            f"archive lacks {', '.join(missing)} (looked in every folder); is it the authors' "
            f"data/{path.name}?",
            path=path,
        )
    return {name: where[0] for name, where in found.items()}


def _load_matrix(bundle: zipfile.ZipFile, member: str, path: Path) -> sp.coo_matrix:
    data = bundle.read(member)
    try:
        matrix = sp.load_npz(io.BytesIO(data))
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as err:
        raise DiceError(
            f"{member} is not a scipy sparse matrix ({type(err).__name__}: {err})", path=path
        ) from None
    return matrix.tocoo()


def _split_from(matrices: dict[str, sp.coo_matrix], path: Path) -> Split:
    shapes = {part: m.shape for part, m in matrices.items()}
    if len(set(shapes.values())) != 1:
        listed = ", ".join(f"{MEMBERS[p]} {s[0]}x{s[1]}" for p, s in shapes.items())
        raise DiceError(f"the matrices differ in shape ({listed}); all must be (U, I)", path=path)
    n_users, n_items = shapes["train_normal"]
    if n_users == 0 or n_items == 0:
        raise DiceError(f"the matrices are empty ({n_users}x{n_items})", path=path)
    return Split(**{part: _interactions(m, n_users, n_items) for part, m in matrices.items()})


def _interactions(matrix: sp.coo_matrix, n_users: int, n_items: int) -> Interactions:
    """Every stored non-zero entry is one interaction; repeats of a pair count once."""
    csr = matrix.tocsr()
    csr.sum_duplicates()
    csr.eliminate_zeros()
    coo = csr.tocoo()
    return Interactions(coo.row.astype(np.int64), coo.col.astype(np.int64), n_users, n_items)


def _popularity_check(
    bundle: zipfile.ZipFile, member: str, split: Split, parts: tuple[str, ...], path: Path
) -> dict:
    """Whether a shipped popularity array equals the item count of `parts` (distinct users)."""
    try:
        shipped = np.load(io.BytesIO(bundle.read(member)), allow_pickle=False)
    except (ValueError, EOFError) as err:
        raise DiceError(f"{member} is not a numpy array ({err})", path=path) from None
    counts = sum(split.part(name).item_counts() for name in parts)
    matches = shipped.shape == counts.shape and bool(np.array_equal(shipped, counts))
    if not matches:
        log.warning("%s: %s differs from the item counts of %s", path, member, "+".join(parts))
    return {"counts": "+".join(parts), "matches": matches}
