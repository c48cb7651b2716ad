"""Every input path of the data layer: a folder, a dangling link, an unreadable or empty file, a
file of the wrong type where a file is expected gives exit status 2 and one line naming the path,
never a traceback; nothing already computed is lost. Also: byte-identical torch saves.
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

import dice.cli
from dice.data import datasets, netflix
from dice.data.datasets import load_ratings, load_sources
from dice.data.download import fetch
from dice.data.parity import read_parity_archive
from dice.errors import DiceError
from dice.io import readable_file, save_torch
from tests.test_parity import write_parity_archive

AS_ROOT = os.geteuid() == 0
ROOT_READS_ANYTHING = "runs as root, where chmod 000 does not block reading"
KAGGLE = [f"combined_data_{n}.txt" for n in range(1, 5)]
SENTINEL = '{"computed": "before"}\n'  # a file of an earlier run that a failure must not touch


def grid_ratings(sep: str = "::") -> str:
    """12 users x 12 items, all five stars: survives the default filter (more than 10 each)."""
    return "".join(
        f"{u}{sep}{i}{sep}5{sep}{1000 + u * 12 + i}\n" for u in range(12) for i in range(12)
    )


def kaggle_text(movie: int) -> str:
    return f"{movie}:\n" + "".join(f"{u},5,2005-01-0{1 + u % 9}\n" for u in range(3))


def write_kaggle(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(KAGGLE, start=1):
        (folder / name).write_text(kaggle_text(number))


def write_netflix_archive(path: Path) -> None:
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tar:
        _add(tar, "training_set/mv_0000001.txt", kaggle_text(1).encode())
    with tarfile.open(path, mode="w:gz") as outer:
        _add(outer, "download/training_set.tar", inner.getvalue())


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def offline(monkeypatch):
    """Any network access fails the test (not a DiceError: it would escape the CLI)."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def prepare(tmp_path, capsys, offline):
    """Run `dice prepare` on `source`; return (exit status, stderr) after checking that a
    failure is one line and that the earlier output folder is untouched."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.json").write_text(SENTINEL)

    def run(source: str) -> tuple[int, str]:
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({"datasets": {"d": {"source": source}}, "seeds": [0]}))
        code = dice.cli.main(["prepare", "--config", str(config), "--dataset", "d",
                              "--raw-dir", str(tmp_path / "raw"), "--out", str(out)])  # fmt: skip
        err = capsys.readouterr().err
        if code != 0:
            assert err.startswith("error: ") and err.count("\n") == 1, err
            assert "Traceback" not in err
            assert sorted(p.name for p in out.iterdir()) == ["stats.json"]
            assert (out / "stats.json").read_text() == SENTINEL
        return code, err

    return run


def damage(path: Path, how: str) -> None:
    """Put something wrong at `path`: a folder, a dangling link, an unreadable or empty file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    if how == "folder":
        path.mkdir()
    elif how == "dangling":
        path.symlink_to(path.parent / "gone" / path.name)
    elif how == "unreadable":
        path.write_text("x")
        path.chmod(0)
    elif how == "empty":
        path.write_text("")


PROBLEMS = {
    "folder": "is a folder",
    "dangling": "dangling symbolic link to",
    "unreadable": "cannot be read: Permission denied",
}
DAMAGES = [
    "folder",
    "dangling",
    pytest.param("unreadable", marks=pytest.mark.skipif(AS_ROOT, reason=ROOT_READS_ANYTHING)),
]


# --- the helper --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", [*DAMAGES, "empty", "missing"])
def test_readable_file_names_the_path_and_the_problem(tmp_path, how):
    path = tmp_path / "data.zip"
    if how != "missing":
        damage(path, how)
    problem = {**PROBLEMS, "empty": "is empty", "missing": "not found"}[how]
    with pytest.raises(DiceError) as err:
        readable_file(path, what="the data archive", allow_empty=False)
    assert str(err.value).startswith(f"{path}: {problem}")
    assert str(err.value).endswith("(expected the data archive)") and "\n" not in str(err.value)


def test_readable_file_accepts_a_file_and_a_link_to_one(tmp_path):
    (tmp_path / "real").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert readable_file(tmp_path / "link") == tmp_path / "link"
    with pytest.raises(DiceError, match="is empty"):
        readable_file(tmp_path / "link", allow_empty=False)


def test_readable_file_reports_a_denied_open(tmp_path, monkeypatch):
    """The unreadable case also where chmod cannot block (root): the open itself is denied."""
    path = tmp_path / "f.zip"
    path.write_text("x")
    real_open = pathlib.Path.open

    def denied(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", denied)
    with pytest.raises(DiceError, match=f"^{path}: cannot be read: Permission denied"):
        readable_file(path, what="x")


# --- archives and ratings files through `dice prepare` -------------------------------------------


@pytest.mark.parametrize("source", ["ml100k", "ml1m", "ml10m", "ml20m"])
@pytest.mark.parametrize("how", DAMAGES)
def test_movielens_archive_path(prepare, tmp_path, monkeypatch, source, how):
    monkeypatch.setattr(datasets, "recbole_copy", lambda spec: None)  # ml100k: the zip path
    archive = tmp_path / "raw" / source / load_sources()[source]["archive"]
    damage(archive, how)
    code, err = prepare(source)
    assert code == 2 and f"error: {archive}: {PROBLEMS[how]}" in err


@pytest.mark.parametrize("how", DAMAGES)
def test_movielens_partial_download_path(prepare, tmp_path, how):
    part = tmp_path / "raw" / "ml10m" / "ml-10m.zip.part"
    damage(part, how)
    code, err = prepare("ml10m")
    assert code == 2 and f"error: {part}: {PROBLEMS[how]}" in err and "partial download" in err


def test_raw_folder_that_is_a_file(prepare, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "ml10m").write_text("not a folder")
    code, err = prepare("ml10m")
    assert (
        code == 2
        and f"{tmp_path / 'raw' / 'ml10m' / 'ml-10m.zip'}: cannot create its folder" in err
    )


@pytest.mark.parametrize("how", DAMAGES)
def test_netflix_archive_path(prepare, tmp_path, how):
    archive = tmp_path / "raw" / "netflix" / "nf_prize_dataset.tar.gz"
    damage(archive, how)
    code, err = prepare("netflix")
    assert code == 2 and f"error: {archive}: {PROBLEMS[how]}" in err


@pytest.mark.parametrize("name", KAGGLE)
@pytest.mark.parametrize("how", [*DAMAGES, "empty"])
def test_each_kaggle_file_path(prepare, tmp_path, name, how):
    write_kaggle(tmp_path / "raw" / "netflix")
    damage(tmp_path / "raw" / "netflix" / name, how)
    code, err = prepare("netflix")
    problem = {**PROBLEMS, "empty": "is empty"}[how]
    assert code == 2 and f"error: {tmp_path / 'raw' / 'netflix' / name}: {problem}" in err
    assert "all of which are needed" in err


@pytest.mark.parametrize("name", KAGGLE)
def test_a_missing_or_ratingless_kaggle_file_fails_loudly(tmp_path, name):
    raw = tmp_path / "netflix"
    write_kaggle(raw)
    (raw / name).write_text(f"{KAGGLE.index(name) + 1}:\n")  # a movie line, no ratings
    with pytest.raises(DiceError, match=f"^{raw / name}: holds no ratings; all 4 files are needed"):
        load_ratings("netflix", raw_dir=raw)
    (raw / name).unlink()
    with pytest.raises(
        DiceError, match=f"^{raw}: incomplete Kaggle Netflix data: also place {name}"
    ):
        load_ratings("netflix", raw_dir=raw)


def test_all_four_kaggle_files_are_read(tmp_path):
    write_kaggle(tmp_path)
    frame = load_ratings("netflix", raw_dir=tmp_path)
    assert sorted(set(frame["item"])) == [1, 2, 3, 4] and len(frame) == 4 * 3


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("-11,5,2005-09-06", "user id '-11' is not a non-negative integer"),
        ("11,5,2005-09-06,7", "4 comma-separated fields; expected user,rating,YYYY-MM-DD"),
        ("11,-5,2005-09-06", "rating '-5' is not a non-negative number"),
        ("11,5,2005/09/06", "date '2005/09/06' is not YYYY-MM-DD"),
        ("-3:", "the movie id of a 'MOVIEID:' line is not a non-negative integer"),
    ],
)
def test_a_bad_netflix_line_is_named_with_its_number(tmp_path, monkeypatch, line, problem):
    monkeypatch.setattr(netflix, "BLOCK_BYTES", 16)  # the bad line sits in a later block
    write_kaggle(tmp_path)
    path = tmp_path / "combined_data_3.txt"
    path.write_text(kaggle_text(3) + line + "\n" + "12,4,2005-01-01\n")
    with pytest.raises(DiceError) as err:
        load_ratings("netflix", raw_dir=tmp_path)
    assert str(err.value) == f"{path}: line 5 {line!r}: {problem}"


# --- wrong file types --------------------------------------------------------------------------


def placed_catalogue(monkeypatch, source: str, archive: Path) -> None:
    """The real catalogue, with `source`'s checksum replaced by that of the placed `archive`."""
    table = load_sources()
    table[source] = {**table[source], "md5": hashlib.md5(archive.read_bytes()).hexdigest()}
    monkeypatch.setattr(datasets, "load_sources", lambda *args, **kwargs: table)


def test_a_placed_archive_with_the_right_checksum_needs_no_network(prepare, tmp_path, monkeypatch):
    archive = tmp_path / "raw" / "ml10m" / "ml-10m.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("ml-10M100K/ratings.dat", grid_ratings())
    placed_catalogue(monkeypatch, "ml10m", archive)
    code, err = prepare("ml10m")  # the `offline` fixture fails on any network access
    assert code == 0, err
    assert not archive.with_name("ml-10m.zip.part").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("text", "corrupt or truncated zip archive (File is not a zip file)"),
        ("other_member", "archive has no member ml-10M100K/ratings.dat"),
    ],
)
def test_a_placed_archive_of_the_wrong_type(prepare, tmp_path, monkeypatch, content, problem):
    archive = tmp_path / "raw" / "ml10m" / "ml-10m.zip"
    archive.parent.mkdir(parents=True)
    if content == "text":
        archive.write_text(grid_ratings())
    else:
        with zipfile.ZipFile(archive, "w") as bundle:
            bundle.writestr("ml-10M100K/movies.dat", "1::Toy Story::Comedy\n")
    placed_catalogue(monkeypatch, "ml10m", archive)
    code, err = prepare("ml10m")
    assert code == 2 and f"error: {archive}: {problem}" in err
    assert archive.exists()  # a placed file is never deleted


def test_a_text_file_named_like_the_netflix_archive(prepare, tmp_path):
    archive = tmp_path / "raw" / "netflix" / "nf_prize_dataset.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_text(kaggle_text(1))
    code, err = prepare("netflix")
    assert code == 2 and f"error: {archive}: corrupt or truncated archive (ReadError" in err


def test_recbole_file_that_cannot_be_read(tmp_path, monkeypatch):
    copy = tmp_path / "ml-100k.inter"
    copy.write_text("x")
    monkeypatch.setattr(datasets, "recbole_copy", lambda spec: copy)
    real_open = pathlib.Path.open
    monkeypatch.setattr(pathlib.Path, "open", lambda self, *a, **k: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied")) if self == copy else real_open(self, *a, **k))  # fmt: skip
    with pytest.raises(DiceError, match=f"^{copy}: cannot be read: Permission denied"):
        load_ratings("ml100k", raw_dir=tmp_path)


# --- parity archives ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", [*DAMAGES, "empty", "text"])
def test_parity_archive_path(tmp_path, capsys, monkeypatch, small_split, how):
    if "dice.cli_verify" not in dice.cli.EXTENSIONS:  # the subcommand `import-split`
        monkeypatch.setattr(dice.cli, "EXTENSIONS", (*dice.cli.EXTENSIONS, "dice.cli_verify"))
    archive = tmp_path / "ml10m.zip"
    out = tmp_path / "split"
    write_parity_archive(tmp_path / "good.zip", small_split)
    if how == "text":
        archive.write_text("train_coo_record.npz\n")
    else:
        damage(archive, how)
    problem = {**PROBLEMS, "empty": "corrupt or truncated zip archive",
               "text": "corrupt or truncated zip archive (File is not a zip file)"}[how]  # fmt: skip
    assert dice.cli.main(["import-split", "--archive", str(archive), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {archive}: {problem}") and err.count("\n") == 1, err
    assert not out.exists() or not any(out.iterdir())
    read_parity_archive(tmp_path / "good.zip")  # the helper itself reads a good archive


# --- downloads ---------------------------------------------------------------------------------


def test_fetch_reports_a_folder_at_the_destination_without_network(tmp_path, offline):
    (tmp_path / "a.zip").mkdir()
    with pytest.raises(DiceError, match=f"^{tmp_path / 'a.zip'}: is a folder"):
        fetch("http://127.0.0.1:9/a.zip", tmp_path / "a.zip")


# --- byte-reproducible torch files ---------------------------------------------------------------


def test_save_torch_gives_identical_bytes_whatever_the_path(tmp_path):
    state = {"w": torch.arange(12.0).reshape(3, 4), "b": torch.ones(4, dtype=torch.float64)}
    save_torch(tmp_path / "a" / "model.pt", state)
    save_torch(tmp_path / "other_name.pt", {k: v.clone() for k, v in state.items()})
    first = (tmp_path / "a" / "model.pt").read_bytes()
    assert first == (tmp_path / "other_name.pt").read_bytes()
    assert not [p for p in tmp_path.rglob("*.tmp")]  # the temporary file is gone
    loaded = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    torch.save(state, tmp_path / "plain.pt")  # the plain call records its file name: differs
    assert (tmp_path / "plain.pt").read_bytes() != first
