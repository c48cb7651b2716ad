"""Every row of the bad-input table (README, "Bad input"): the command fails with exit status 2
and one line ``error: <message>`` — never a traceback. A property test feeds random malformed
ratings files to the readers, which must give a clear error or a valid result.
"""

from __future__ import annotations

import io
import json
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dice.cli
from dice.config import load_config, run_settings
from dice.data.datasets import (
    COLUMNS,
    load_ratings,
    load_sources,
    parse_netflix_block,
    parse_ratings_text,
)
from dice.errors import DiceError
from dice.registry import build_model
from dice.seeding import torch_generator
from dice.train import Trainer
from tests.conftest import settings_for
from tests.test_parity import write_parity_archive

BASE = {"datasets": {"tiny": {"source": "synthetic", "preset": "tiny"}}, "seeds": [0]}


@pytest.fixture
def main(monkeypatch):
    if "dice.cli_verify" not in dice.cli.EXTENSIONS:
        monkeypatch.setattr(dice.cli, "EXTENSIONS", (*dice.cli.EXTENSIONS, "dice.cli_verify"))
    return dice.cli.main


@pytest.fixture
def fails(main, capsys):
    """Run `dice …`; assert exit status 2 and one stderr line holding `message`."""

    def check(argv: list[str], message: str) -> None:
        assert main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert message in err, err

    return check


def config_file(folder: Path, **changes) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}))
    return path


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, Path]:
    """The synthetic `tiny` dataset prepared by `dice prepare`, and its config."""
    folder = tmp_path_factory.mktemp("prepared")
    config = config_file(folder)
    assert dice.cli.main(["prepare", "--config", str(config), "--dataset", "tiny",
                          "--out", str(folder / "data")]) == 0  # fmt: skip
    return config, folder / "data"


# --- archives ----------------------------------------------------------------------------------


def test_missing_netflix_archive_says_what_to_place_where(tmp_path, fails):
    config = config_file(tmp_path, datasets={"nf": {"source": "netflix"}})
    fails(["prepare", "--config", config, "--dataset", "nf", "--raw-dir", tmp_path / "raw",
           "--out", tmp_path / "out"], "Netflix Prize data not found: place nf_prize_dataset.tar.gz")  # fmt: skip


def test_missing_movielens_archive_without_network(tmp_path, fails, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    config = config_file(tmp_path, datasets={"ml": {"source": "ml1m"}})
    fails(["prepare", "--config", config, "--dataset", "ml", "--raw-dir", tmp_path / "raw",
           "--out", tmp_path / "out"], f"{tmp_path / 'raw' / 'ml1m' / 'ml-1m.zip'}: download of "
          "https://files.grouplens.org/datasets/movielens/ml-1m.zip failed, no connection (URLError: "
          "no network); no byte was received; run again when online, or place ml-1m.zip (md5 "
          "c4d9eecfca2ab87c1945afe126590906) at this exact path yourself")  # fmt: skip


def test_missing_parity_archive(tmp_path, fails):
    fails(["import-split", "--archive", tmp_path / "ml10m.zip", "--out", tmp_path / "s"],
          "the authors' preprocessed archive is not here: place data/ml10m.zip")  # fmt: skip


def netflix_archive(path: Path) -> Path:
    """A Netflix Prize release: download/training_set.tar of mv_*.txt files, gzipped."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tar:
        for movie in range(1, 40):
            text = f"{movie}:\n" + "".join(f"{u},5,2005-01-0{1 + u % 9}\n" for u in range(60))
            info = tarfile.TarInfo(f"training_set/mv_{movie:07d}.txt")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    with tarfile.open(path, mode="w:gz") as outer:
        info = tarfile.TarInfo("download/training_set.tar")
        info.size = inner.getbuffer().nbytes
        outer.addfile(info, io.BytesIO(inner.getvalue()))
    return path


def test_truncated_netflix_archive(tmp_path, fails):
    (tmp_path / "raw" / "netflix").mkdir(parents=True)
    archive = netflix_archive(tmp_path / "raw" / "netflix" / "nf_prize_dataset.tar.gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    config = config_file(tmp_path, datasets={"nf": {"source": "netflix"}})
    fails(["prepare", "--config", config, "--dataset", "nf", "--raw-dir", tmp_path / "raw",
           "--out", tmp_path / "out"], "corrupt or truncated archive")  # fmt: skip


def test_truncated_parity_zip(tmp_path, fails, small_split):
    archive = write_parity_archive(tmp_path / "ml10m.zip", small_split)
    archive.write_bytes(archive.read_bytes()[:-200])
    fails(
        ["import-split", "--archive", archive, "--out", tmp_path / "s"], "corrupt or truncated zip"
    )


def test_checksum_mismatch_of_a_placed_movielens_archive(tmp_path, fails):
    raw = tmp_path / "raw" / "ml1m"
    raw.mkdir(parents=True)
    with zipfile.ZipFile(raw / "ml-1m.zip", "w") as bundle:
        bundle.writestr("ml-1m/ratings.dat", "1::2::5::0\n")
    config = config_file(tmp_path, datasets={"ml": {"source": "ml1m"}})
    fails(["prepare", "--config", config, "--dataset", "ml", "--raw-dir", tmp_path / "raw",
           "--out", tmp_path / "out"], "checksum mismatch: expected md5 c4d9eecfca2ab87c1945afe126590906")  # fmt: skip


def test_a_placed_netflix_archive_is_checked_before_use(tmp_path):
    archive = netflix_archive(tmp_path / "nf_prize_dataset.tar.gz")
    table = load_sources()
    table["netflix"]["md5"] = "0" * 32  # a user pins the checksum of their copy
    sources = tmp_path / "datasets.yaml"
    sources.write_text(yaml.safe_dump(table))
    with pytest.raises(DiceError, match=f"{archive}: checksum mismatch: expected md5 0{{32}}"):
        load_ratings("netflix", raw_dir=tmp_path, sources_file=sources)


# --- ratings files -----------------------------------------------------------------------------


def kaggle_files(tmp_path: Path, first: str) -> Path:
    raw = tmp_path / "raw" / "netflix"
    raw.mkdir(parents=True)
    for n in range(1, 5):
        (raw / f"combined_data_{n}.txt").write_text(first if n == 1 else f"{n}:\n7,5,2005-09-06\n")
    return tmp_path / "raw"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty (expected one of the 4 Kaggle Netflix files, all of which are needed)"),
        ("1:\n", "holds no ratings; all 4 files are needed"),
        ("1:\n12,five,2005-09-06\n", "line 2 '12,five,2005-09-06': rating 'five' is not a"),
        ("1:\n12,5\n", "line 2 '12,5': 2 comma-separated fields; expected user,rating,YYYY-MM-DD"),
        ("12,5,2005-09-06\n", "line 1 '12,5,2005-09-06': a rating before the first 'MOVIEID:'"),
        ("1:\n1.5,5,2005-09-06\n", "line 2 '1.5,5,2005-09-06': user id '1.5' is not a"),
        ("1:\n-12,5,2005-09-06\n", "line 2 '-12,5,2005-09-06': user id '-12' is not a"),
    ],
)
def test_malformed_or_empty_ratings_file(tmp_path, fails, text, message):
    raw = kaggle_files(tmp_path, text)
    config = config_file(tmp_path, datasets={"nf": {"source": "netflix"}})
    fails(["prepare", "--config", config, "--dataset", "nf", "--raw-dir", raw, "--out", tmp_path / "o"],
          f"{raw / 'netflix' / 'combined_data_1.txt'}: {message}")  # fmt: skip


def test_a_dataset_the_filter_empties(tmp_path, fails):
    config = config_file(tmp_path, preprocess={"min_count": 1000})
    fails(["prepare", "--config", config, "--dataset", "tiny", "--out", tmp_path / "o"],
          "the filter removed every record; lower min_count or rating_threshold")  # fmt: skip


# --- names and values in the config or on the command line --------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"methods": ["dcie"]}, "unknown method 'dcie' (did you mean 'dice'?)"),
        ({"backbones": ["gcn"]}, "backbones/0: 'gcn' is not one of ['mf', 'lightgcn']"),
        ({"datasets": {"x": {"source": "ml30m"}}}, "datasets/x/source: 'ml30m' is not one of"),
        ({"split": {"cap": 1.5}}, "split/cap: 1.5 is greater than the maximum of 1"),
        (
            {"split": {"intervened_train_share": 0.7}},
            "split shares sum to 1; they must leave a normal part",
        ),
        ({"seeds": [-1]}, "seeds/0: -1 is less than the minimum of 0"),
        ({"split": {"seed": -1}}, "split/seed: -1 is less than the minimum of 0"),
        ({"sedes": [0]}, "unknown key 'sedes' (did you mean 'seeds'?) in top level"),
        (
            {"train": {"max_epoch": 2}},
            "unknown key 'max_epoch' (did you mean 'max_epochs'?) in train",
        ),
    ],
)
def test_bad_config_values_name_the_file_and_key(tmp_path, fails, changes, message):
    config = config_file(tmp_path, **changes)
    fails(["prepare", "--config", config, "--dataset", "tiny", "--out", tmp_path / "o"],
          f"{config}: {message}")  # fmt: skip


def test_unknown_dataset_on_the_command_line(tmp_path, fails):
    config = config_file(tmp_path)
    fails(["prepare", "--config", config, "--dataset", "ml30m", "--out", tmp_path / "o"],
          "unknown dataset 'ml30m'; the config defines: tiny")  # fmt: skip


def test_unknown_method_and_backbone_on_the_command_line(tmp_path, fails, main, capsys, prepared):
    config, _ = prepared
    argv = [
        "train",
        "--split",
        tmp_path,
        "--config",
        config,
        "--seed",
        "0",
        "--out",
        tmp_path / "r",
    ]
    fails(
        [*argv, "--method", "dcie", "--backbone", "mf"],
        "unknown method 'dcie' (did you mean 'dice'?)",
    )
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage line, then one error line
        main([str(a) for a in [*argv, "--method", "dice", "--backbone", "gcn"]])
    assert exit_info.value.code == 2
    assert "argument --backbone: invalid choice: 'gcn'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--cap", "1.5"], "cap must lie in (0, 1] or be null, not 1.5"),
        (["--cap", "0"], "cap must lie in (0, 1] or be null, not 0.0"),
        (["--share", "0.9"], "split shares must be >= 0 with a sum in (0, 1)"),
        (["--share", "-0.1"], "split shares must be >= 0"),
    ],
)
def test_out_of_range_cap_and_share_on_the_command_line(tmp_path, fails, prepared, option, message):
    config, data = prepared
    fails(["split", "--config", config, "--data", data, *option, "--out", tmp_path / "s"], message)


def test_out_of_range_seed_on_the_command_line(tmp_path, fails, small_split):
    small_split.save(tmp_path / "split", meta={"seed": 0})
    fails(["train", "--split", tmp_path / "split", "--config", "config/config.yaml", "--method",
           "none", "--backbone", "mf", "--seed", "-1", "--out", tmp_path / "r"], "seed")  # fmt: skip


# --- splits and training -----------------------------------------------------------------------


def test_a_split_whose_test_set_is_empty_for_most_users(tmp_path, fails, small_split):
    from dice.data.interactions import Interactions, Split

    test = small_split.test
    keep = test.user < 20  # 20 of 200 users keep their test items
    moved = Interactions(test.user[~keep], test.item[~keep], test.n_users, test.n_items)
    sparse = Split(small_split.train_normal.concat(moved), small_split.train_intervened,
                   small_split.valid, Interactions(test.user[keep], test.item[keep], test.n_users,
                                                   test.n_items))  # fmt: skip
    archive = write_parity_archive(tmp_path / "ml10m.zip", sparse)
    fails(["import-split", "--archive", archive, "--out", tmp_path / "s"],
          "the test set is empty for 180 of 200 users (90%)")  # fmt: skip


def test_nan_loss_during_training_stops_with_a_message(tmp_path, fails, small_split, suite_config):
    small_split.save(tmp_path / "split", meta={"seed": 0})
    settings = run_settings(suite_config, method="none", backbone="mf")
    settings["train"] |= {"lr": 1e30, "max_epochs": 3, "batch_size": 256}  # diverges at once
    fails(["train", "--split", tmp_path / "split", "--settings", json.dumps(settings), "--seed", "0",
           "--out", tmp_path / "r", "--device", "cpu"], "training diverged: loss is nan at epoch 0")  # fmt: skip
    assert not (tmp_path / "r" / "train.json").exists()


def test_nan_weights_are_caught_at_the_first_step(small_split, suite_config):
    _, model_cfg, train_cfg = settings_for(suite_config, "dice", "mf", max_epochs=1)
    model = build_model(model_cfg, small_split, generator=torch_generator(0, "init"))
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    trainer = Trainer(model, small_split, config=train_cfg, seed=0, progress=False)
    with pytest.raises(DiceError, match="training diverged: loss is nan at epoch 0, step 0"):
        trainer.fit()


# --- property: random malformed ratings files ----------------------------------------------------

TOKENS = st.sampled_from(["1", "22", "-3", "4.5", "5", "nan", "inf", "1e3", "x", "", " ",
                          "::", ":", "\t", ",", "\n", "\r\n", "-", "9" * 20, "\x00", "é"])  # fmt: skip


def valid_frame(frame) -> bool:
    return (
        list(frame.columns) == list(COLUMNS)
        and len(frame) > 0
        and all(frame[c].dtype == np.int64 for c in ("user", "item", "timestamp"))
        and frame["rating"].dtype == np.float64
        and bool(np.isfinite(frame["rating"]).all())
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=40), st.sampled_from(["dat", "tab", "csv", "inter"]))
def test_random_ratings_files_give_a_clear_error_or_a_valid_frame(tokens, fmt):
    header = {"csv": "userId,movieId,rating,timestamp\n",
              "inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"}.get(fmt, "")  # fmt: skip
    data = (header + "".join(tokens)).encode()
    try:
        frame = parse_ratings_text(data, fmt=fmt, path="r.txt")
    except DiceError as err:
        assert "\n" not in str(err) and str(err).startswith("r.txt: ")
    else:
        assert valid_frame(frame)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=40))
def test_random_netflix_text_gives_a_clear_error_or_a_valid_frame(tokens):
    data = ("".join(tokens) + "\n").encode()
    try:
        frame, _ = parse_netflix_block(data, carry=None, path="n.txt")
    except DiceError as err:
        assert "\n" not in str(err)
    else:
        assert len(frame) == 0 or valid_frame(frame)


def test_the_config_of_this_file_is_valid(tmp_path):
    load_config(config_file(tmp_path))  # the bad cases above differ from it in one key only
