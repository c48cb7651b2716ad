"""Parity mode: the authors' released archives (docs/authors-code.md#files) read into a split.

The tests build a small archive in the same format: scipy COO ``.npz`` matrices of shape (U, I)
saved with ``sp.save_npz`` and popularity ``.npy`` arrays, inside a folder of the zip.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import dice.cli
from dice.config import run_settings
from dice.data.interactions import PARTS, Split
from dice.data.parity import (
    MEMBERS,
    archive_path,
    read_parity_archive,
    read_parity_archive_with_checks,
)
from dice.errors import DiceError
from dice.io import read_json
from dice.runs import train_run


@pytest.fixture
def main(monkeypatch):
    """`dice.cli.main` with this feature's subcommands (dice.cli_verify) registered."""
    if "dice.cli_verify" not in dice.cli.EXTENSIONS:
        monkeypatch.setattr(dice.cli, "EXTENSIONS", (*dice.cli.EXTENSIONS, "dice.cli_verify"))
    return dice.cli.main


def coo_bytes(user, item, shape, *, values=None) -> bytes:
    values = np.ones(len(user)) if values is None else values
    buffer = io.BytesIO()
    sp.save_npz(buffer, sp.coo_matrix((values, (user, item)), shape=shape))
    return buffer.getvalue()


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return buffer.getvalue()


def write_parity_archive(path: Path, split: Split, *, folder: str = "ml10m", skip=(), extra=None):
    """The authors' layout: one folder with the four record matrices and popularity arrays."""
    shape = (split.n_users, split.n_items)
    files = {
        name: coo_bytes(split.part(part).user, split.part(part).item, shape)
        for part, name in MEMBERS.items()
    }
    files["popularity.npy"] = npy_bytes(split.train_normal.item_counts())
    files["popularity_blend.npy"] = npy_bytes(split.train.item_counts())
    files |= extra or {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            if name not in skip:
                bundle.writestr(f"{folder}/{name}" if folder else name, data)
    return path


def same_pairs(a, b) -> bool:
    return np.array_equal(np.sort(a.keys()), np.sort(b.keys()))


@pytest.mark.parametrize("folder", ["ml10m", "data/deep/inner", ""])
def test_archive_reads_back_the_same_split_wherever_the_files_sit(tmp_path, small_split, folder):
    archive = write_parity_archive(tmp_path / "ml10m.zip", small_split, folder=folder)
    split = read_parity_archive(archive)
    assert (split.n_users, split.n_items) == (small_split.n_users, small_split.n_items)
    for part in PARTS:
        assert same_pairs(split.part(part), small_split.part(part)), part


def test_shipped_popularity_arrays_are_compared_with_the_parts(tmp_path, small_split):
    wrong = small_split.train_normal.item_counts() + 1
    archive = write_parity_archive(tmp_path / "a.zip", small_split,
                                   extra={"popularity_all.npy": npy_bytes(wrong)})  # fmt: skip
    _, checks = read_parity_archive_with_checks(archive)
    assert checks["popularity.npy"] == {"counts": "train_normal", "matches": True}
    assert checks["popularity_blend.npy"]["matches"] is True
    assert checks["popularity_all.npy"]["matches"] is False


def test_duplicate_entries_count_once(tmp_path, small_split):
    user, item = small_split.test.user, small_split.test.item
    doubled = coo_bytes(
        np.r_[user, user], np.r_[item, item], (small_split.n_users, small_split.n_items)
    )
    archive = write_parity_archive(tmp_path / "a.zip", small_split,
                                   extra={"test_coo_record.npz": doubled})  # fmt: skip
    assert len(read_parity_archive(archive).test) == len(small_split.test)


def test_import_split_writes_the_split_folder_format(tmp_path, small_split, main):
    archive = write_parity_archive(tmp_path / "ml10m.zip", small_split)
    out = tmp_path / "splits" / "dice-ml10m" / "parity"
    assert main(["import-split", "--archive", str(archive), "--out", str(out)]) == 0
    loaded = Split.load(out)
    for part in PARTS:
        assert same_pairs(loaded.part(part), small_split.part(part))
    meta, stats = read_json(out / "meta.json"), read_json(out / "stats.json")
    assert meta["source"] == "parity" and len(meta["archive_sha256"]) == 64
    assert stats["interactions"] == sum(len(small_split.part(p)) for p in PARTS)
    assert stats["disjoint"] is True
    # a second import does not overwrite the split silently
    assert main(["import-split", "--archive", str(archive), "--out", str(out)]) == 2
    assert main(["import-split", "--archive", str(archive), "--out", str(out), "--force"]) == 0


def test_a_method_trains_on_the_imported_split(tmp_path, small_split, suite_config, main):
    archive = write_parity_archive(tmp_path / "ml10m.zip", small_split)
    out = tmp_path / "split"
    assert main(["import-split", "--archive", str(archive), "--out", str(out)]) == 0
    settings = run_settings(suite_config, method="none", backbone="mf")
    settings["train"]["max_epochs"] = 1
    info = train_run(out, settings, seed=0, out=tmp_path / "run", progress=False)
    assert info["epochs"] == 1 and (tmp_path / "run" / "model.pt").exists()


def test_archive_location_of_each_parity_source(tmp_path):
    assert archive_path("dice-ml10m", tmp_path) == tmp_path / "ml10m.zip"
    assert archive_path("dice-netflix", tmp_path) == tmp_path / "netflix.zip"
    with pytest.raises(DiceError, match="unknown parity source 'ml10m'"):
        archive_path("ml10m", tmp_path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("absent", "the authors' preprocessed archive is not here: place data/ml10m.zip"),
        ("truncated", "corrupt or truncated zip archive"),
        ("no_test", "archive lacks test_coo_record.npz"),
        ("shape", "the matrices differ in shape"),
        ("not_npz", "val_coo_record.npz is not a scipy sparse matrix"),
        ("twice", "archive holds train_coo_record.npz twice"),
        ("leak", "leakage: 5 test interactions are also training interactions"),
    ],
)
def test_bad_archives_give_one_line_errors(tmp_path, small_split, damage, message, main, capsys):
    path = tmp_path / "ml10m.zip"
    shape = (small_split.n_users, small_split.n_items)
    test = small_split.test
    extra = {
        "shape": {"val_coo_record.npz": coo_bytes([0], [0], (shape[0] + 1, shape[1]))},
        "not_npz": {"val_coo_record.npz": b"not a matrix"},
        "leak": {"train_skew_coo_record.npz": coo_bytes(
            np.r_[small_split.train_intervened.user, test.user[:5]],
            np.r_[small_split.train_intervened.item, test.item[:5]], shape)},
    }.get(damage)  # fmt: skip
    if damage != "absent":
        write_parity_archive(path, small_split, skip=("test_coo_record.npz",) if damage == "no_test" else (),
                             extra=extra)  # fmt: skip
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    if damage == "twice":
        with zipfile.ZipFile(path, "a") as bundle:
            bundle.writestr("copy/train_coo_record.npz", b"x")
    out = tmp_path / "split"
    assert main(["import-split", "--archive", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (out / "meta.json").exists()
