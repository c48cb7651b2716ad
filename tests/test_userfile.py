"""The user's own interactions file (dataset source `file`): formats, the column mapping, ids,
binarisation, one-line errors, its SHA-256 in the data stage's identity, and the shipped
example through the workflow (docs/data-sources.md#your-own-interactions)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from dice.config import load_config, validate_config
from dice.data.preprocess import load_prepared
from dice.data.userfile import file_spec, read_user_file
from dice.errors import DiceError
from dice.plan import data_stage
from dice.runs import prepare_dataset
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "interactions.csv"
EXAMPLE_CONFIG = ROOT / "examples" / "my-data.yaml"
CSV = "uid,iid,stars,when\nu1,a,5,10\nu2,b,3,20\nu1,b,4,30\n"


def entry(path, **file):
    file.setdefault(
        "columns", {"user": "uid", "item": "iid", "rating": "stars", "timestamp": "when"}
    )
    return {"source": "file", "file": {"path": str(path), **file}}


def read(path, threshold=4.0, **file):
    spec = file_spec(entry(path, **file), dataset="mine")
    return read_user_file(spec, threshold=threshold, dataset="mine")


def config_with(path, **file):
    return validate_config({"datasets": {"mine": entry(path, **file)}})


def error_of(call) -> str:
    with pytest.raises(DiceError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


# --- reading -------------------------------------------------------------------------------------


def test_a_csv_with_string_ids_and_a_header_reads_in_file_order(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CSV)
    frame = read(path)
    assert frame["user"].tolist() == ["u1", "u2", "u1"]
    assert frame["item"].tolist() == ["a", "b", "b"]
    assert frame["rating"].tolist() == [5.0, 3.0, 4.0]
    assert frame["timestamp"].tolist() == [10, 20, 30]


def test_a_tsv_without_header_by_position_with_integer_ids_and_implicit_feedback(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text("7\t100\n8\t100\n7\t101\n")
    frame = read(path, header=False, ids="integer", implicit=True, columns={"user": 0, "item": 1})
    assert frame["user"].dtype == np.int64 and frame["user"].tolist() == [7, 8, 7]
    assert frame["item"].tolist() == [100, 100, 101]
    assert frame["timestamp"].tolist() == [0, 1, 2]  # no time column: file order
    assert (frame["rating"] == 1.0).all()


def test_parquet_and_iso_dates(tmp_path):
    path = tmp_path / "r.parquet"
    pd.DataFrame({"uid": ["x", "y"], "iid": [3, 4], "stars": [5.0, 4.0],
                  "when": ["1970-01-02", "1970-01-01T00:01:00Z"]}).to_parquet(path)  # fmt: skip
    frame = read(path)
    assert frame["item"].tolist() == ["3", "4"]  # ids: string (the default)
    assert frame["timestamp"].tolist() == [86_400, 60]


def test_prepare_keeps_string_ids_and_records_the_file_hash(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CSV)
    config = config_with(path)
    config["preprocess"] |= {"min_count": 0, "rating_threshold": 4.0}
    settings = data_stage(config, "mine").settings
    out = tmp_path / "data"
    prepare_dataset("mine", settings["entry"], settings["preprocess"], raw_dir=tmp_path, out=out,
                    seed=0, file_sha256=settings["file_sha256"])  # fmt: skip
    prepared = load_prepared(out)
    # ratings >= 4: (u1, a, t10), (u1, b, t30); reindexed by first appearance in time
    assert prepared.user_ids.tolist() == ["u1"] and prepared.item_ids.tolist() == ["a", "b"]
    meta = pd.read_json(out / "meta.json", typ="series")
    import hashlib

    assert meta["provenance"]["file_sha256"] == hashlib.sha256(CSV.encode()).hexdigest()
    path.write_text(CSV + "u3,c,5,40\n")  # changed after planning
    message = error_of(lambda: prepare_dataset(
        "mine", settings["entry"], settings["preprocess"], raw_dir=tmp_path, out=out, seed=0,
        file_sha256=settings["file_sha256"]))  # fmt: skip
    assert "changed after the workflow was planned" in message


# --- identity ------------------------------------------------------------------------------------


def test_a_changed_file_gets_a_new_data_id_and_an_untouched_one_keeps_it(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CSV)
    first = data_stage(config_with(path), "mine")
    os.utime(path, (1, 1))  # new modification time, same content
    assert data_stage(config_with(path), "mine").id == first.id
    path.write_text(CSV.replace("u2,b,3", "u2,b,4"))
    changed = data_stage(config_with(path), "mine")
    assert changed.id != first.id
    assert changed.settings["file_sha256"] != first.settings["file_sha256"]


def test_implicit_data_ignores_the_rating_threshold_in_its_identity(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CSV)
    config = config_with(path, implicit=True)
    other = {**config, "preprocess": {**config["preprocess"], "rating_threshold": 1.0}}
    assert data_stage(config, "mine").id == data_stage(other, "mine").id


# --- one-line errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "file", "expected"),
    [
        (CSV, {"columns": {"user": "user", "item": "iid", "rating": "stars"}},
         "no column 'user' for the user (the header has uid, iid, stars, when)"),
        ("", {}, "file is empty"),
        ("uid,iid,stars,when\n", {}, "file holds no rows"),
        ("uid,iid,uid,when\nu,i,5,1\n", {}, "duplicate column name 'uid' in the header"),
        (CSV, {"ids": "integer"},
         "line 2: user id 'u1' is not an integer (set file.ids: string for text ids)"),
        (CSV.replace("u2,b", ",b"), {}, "line 3: user id empty is missing"),
        (CSV.replace("3,20", "good,20"), {}, "line 3: rating 'good' is not a number"),
        (CSV.replace("3,20", "3,soon"), {},
         "line 3: timestamp 'soon' is neither integer seconds nor an ISO 8601 date"),
        (CSV.replace("5,10", "1,10").replace("4,30", "2,30"), {},
         "no rating is >= rating_threshold 4 (ratings lie in 1..3): lower "
         "preprocess.rating_threshold of dataset 'mine', or set file.implicit: true"),
        ("1\t2\n", {"header": False, "format": "tsv", "columns": {"user": 0, "item": 5},
          "implicit": True},
         "no column 5 for the item (rows have 2 fields, positions count from 0)"),
    ],
)  # fmt: skip
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, text, file, expected):
    path = tmp_path / "r.csv"
    path.write_text(text)
    message = error_of(lambda: read(path, **file))
    assert message.startswith(f"{path}: ") and expected in message, message


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ({"implicit": False, "columns": {"user": "uid", "item": "iid"}},
         "dataset 'mine': no rating column; name it in file.columns.rating, or set "
         "file.implicit: true"),
        ({"header": False}, "given by name, but the file has no header (header: false)"),
        ({"path": "ratings.txt"}, "cannot tell the format of ratings.txt from its extension"),
    ],
)  # fmt: skip
def test_config_mistakes_are_one_line_errors_naming_the_config(tmp_path, file, expected):
    path = file.pop("path", tmp_path / "r.csv")
    message = error_of(lambda: config_with(path, **file))
    assert message.startswith("config: ") and expected in message, message


def test_a_file_for_another_source_and_a_file_source_without_file_are_errors():
    stray = {"source": "ml100k", "file": {"path": "a.csv", "columns": {"user": 0, "item": 1}}}
    message = error_of(lambda: validate_config({"datasets": {"m": stray}}))
    assert "`file` belongs to source 'file' only" in message
    message = error_of(lambda: validate_config({"datasets": {"m": {"source": "file"}}}))
    assert "source 'file' needs a `file` entry" in message


def test_a_missing_file_is_named_when_the_workflow_is_planned(tmp_path):
    config = config_with(tmp_path / "absent.csv")
    message = error_of(lambda: data_stage(config, "mine"))
    assert message == (f"{tmp_path / 'absent.csv'}: not found (expected the interactions file "
                       "of dataset 'mine', as named in datasets.mine.file.path of your config)")  # fmt: skip


# --- the shipped example -------------------------------------------------------------------------


def test_the_example_file_has_ten_lines_and_its_config_is_valid():
    assert len(EXAMPLE.read_text().splitlines()) == 10
    config = load_config(EXAMPLE_CONFIG)
    spec = config["datasets"]["mine"]["file"]
    assert spec["path"] == "examples/interactions.csv" and spec["ids"] == "string"


@pytest.mark.slow
def test_the_example_runs_through_the_workflow(tmp_path):
    from tests.test_workflow import snakemake

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    config = str(tmp_path / "examples" / "my-data.yaml")
    result = snakemake("all", "--cores", "2", "--configfile", config, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results" / "my-data" / "tables" / "table2.csv")
    assert set(table["dataset"]) == {"mine"} and set(table["method"]) == {"none", "dice", "itempop"}
    ids = pd.read_parquet(next((tmp_path / "results" / "data").glob("*/mine/user_ids.parquet")))
    assert sorted(ids["original_id"]) == ["alice", "bob", "carol"]


def test_the_docs_show_the_example_as_shipped():
    page = (ROOT / "docs" / "data-sources.md").read_text()
    assert EXAMPLE.read_text() in page
    shown = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert shown in EXAMPLE_CONFIG.read_text()
    assert "snakemake all --cores 2 --configfile examples/my-data.yaml" in page


def test_the_workflow_names_a_missing_file_and_stops_before_any_job(tmp_path):
    from tests.test_workflow import snakemake

    config = tmp_path / "absent.yaml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace("interactions.csv", "absent.csv"))
    result = snakemake("all", "-n", "--cores", "1", "--configfile", str(config), cwd=tmp_path)
    assert result.returncode != 0
    assert ("error: examples/absent.csv: not found (expected the interactions file of dataset "
            "'mine', as named in datasets.mine.file.path of your config)") in result.stderr  # fmt: skip
