"""Random-exposure test sets (Yahoo! R3, Coat, KuaiRec) from small files written here in each
publisher's format: reading, binarisation, the split of the random part, the message for a
missing file, and the workflow on all three."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from dice.config import validate_config
from dice.data.interactions import Split
from dice.data.random_exposure import FILES, random_exposure_split, read_parts
from dice.errors import DiceError
from dice.plan import data_stage
from dice.runs import prepare_dataset, split_dataset

KUAIREC_HEADER = "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio"


def write_yahoo(folder, biased, random):
    """Tab-separated user, item, rating; ids from 1 as published."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in zip(FILES["yahoo_r3"][:2], (biased, random), strict=True):
        (folder / name).write_text("".join(f"{u}\t{i}\t{r}\n" for u, i, r in rows))


def write_coat(folder, biased, random, shape):
    """Dense users × items matrices of ratings, 0 = none, space-separated."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in zip(FILES["coat"][:2], (biased, random), strict=True):
        matrix = np.zeros(shape, dtype=int)
        for u, i, r in rows:
            matrix[u, i] = r
        (folder / name).write_text("\n".join(" ".join(map(str, row)) for row in matrix) + "\n")


def write_kuairec(folder, biased, random):
    """CSV with the published header; watch_ratio is the last column."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in zip(FILES["kuairec"][:2], (biased, random), strict=True):
        lines = [f"{u},{i},1000,500,2020-07-05 00:00:00.000,20200705,1593878400.0,{r}"
                 for u, i, r in rows]  # fmt: skip
        (folder / name).write_text(KUAIREC_HEADER + "\n" + "\n".join(lines) + "\n")


BIASED = [(1, 1, 5), (1, 2, 4), (2, 2, 5), (2, 3, 1), (3, 1, 4)]
RANDOM = [(1, 3, 5), (2, 1, 4), (2, 2, 5), (3, 3, 2), (4, 4, 5)]  # (2, 2) is also biased


@pytest.mark.parametrize("source", ["yahoo_r3", "coat", "kuairec"])
def test_each_publishers_format_reads_the_same_ratings(tmp_path, source):
    folder = tmp_path / source
    if source == "yahoo_r3":
        write_yahoo(folder, BIASED, RANDOM)
    elif source == "coat":
        write_coat(folder, BIASED, RANDOM, shape=(5, 5))
    else:
        write_kuairec(folder, BIASED, RANDOM)
    biased, random = read_parts(source, folder)
    for frame, rows in ((biased, BIASED), (random, RANDOM)):
        got = sorted(zip(frame["user"], frame["item"], frame["rating"], strict=True))
        assert got == sorted((u, i, float(r)) for u, i, r in rows)


def config_for(source, **preprocess):
    entry = {"source": source, **({"preprocess": preprocess} if preprocess else {})}
    return validate_config({"datasets": {"d": entry}})


@pytest.fixture
def placed(tmp_path, monkeypatch):
    """The three sources' files in resources/raw/ of the folder the plan runs in."""
    monkeypatch.chdir(tmp_path)
    synthetic_files(tmp_path / "resources" / "raw")
    return tmp_path / "resources" / "raw"


def test_binarisation_follows_the_source_unless_the_dataset_overrides_it(placed):
    def threshold(config):
        return data_stage(config, "d").settings["preprocess"]["rating_threshold"]

    assert threshold(config_for("yahoo_r3")) == threshold(config_for("coat")) == 4
    assert threshold(config_for("coat", rating_threshold=5)) == 5
    # KuaiRec: watch_ratio > 2, strictly: the threshold is the next float after 2.0
    assert 2.0 < threshold(config_for("kuairec")) <= 2.0 + 1e-12


def prepared_pairs(source, placed, tmp_path, *, share=0.0):
    """(biased, held-out) positive pairs (original ids) after prepare and split of `source`."""
    settings = data_stage(config_for(source), "d").settings
    data = tmp_path / "data"
    prepare_dataset(
        "d", settings["entry"], settings["preprocess"], raw_dir=placed, out=data, seed=0
    )
    options = {"seed": 1, "cap": 0.9, "cap_mode": "percentile", "scope": "global",
               "intervened_train_share": share, "valid_share": 0.5, "test_share": 0.5}  # fmt: skip
    split_dataset(data, options, out=tmp_path / "split")
    split = Split.load(tmp_path / "split")
    ids = pd.read_parquet(data / "user_ids.parquet")["original_id"].to_numpy()
    items = pd.read_parquet(data / "item_ids.parquet")["original_id"].to_numpy()

    def pairs(part):
        return {(int(ids[u]), int(items[i])) for u, i in zip(part.user, part.item, strict=True)}

    assert len(split.train_intervened) == 0
    assert {len(split.valid), len(split.test)} == {1, 2}  # 3 records at 1:1: round(1.5) = 2
    return pairs(split.train_normal), pairs(split.valid) | pairs(split.test)


def test_prepare_and_split_train_on_the_biased_part_and_test_on_the_random_part(placed, tmp_path):
    write_yahoo(placed / "yahoo_r3", BIASED, RANDOM)
    biased, held = prepared_pairs("yahoo_r3", placed, tmp_path)
    # ratings >= 4: biased (1,1) (1,2) (2,2) (3,1); random (1,3) (2,1) (4,4), (2,2) dropped
    assert biased == {(1, 1), (1, 2), (2, 2), (3, 1)}
    assert held == {(1, 3), (2, 1), (4, 4)}


def test_a_kuairec_positive_is_a_watch_ratio_above_two(placed, tmp_path):
    ratios = {1: 2.0, 2: 2.001, 3: 1.99, 4: 7.5, 5: 2.0}
    biased = [(u, 1, ratios[u]) for u in ratios]  # users 2 and 4 only
    random = [(1, 2, 2.5), (2, 2, 2.0), (3, 3, 3.0), (4, 4, 2.0000001), (5, 5, 0.5)]
    write_kuairec(placed / "kuairec", biased, random)
    got_biased, held = prepared_pairs("kuairec", placed, tmp_path)
    assert got_biased == {(2, 1), (4, 1)}
    assert held == {(1, 2), (3, 3), (4, 4)}


def test_the_random_part_is_cut_by_share_and_seed():
    from dice.data.interactions import Interactions

    train = Interactions(np.array([0]), np.array([0]), 10, 10)
    random = Interactions(np.repeat(np.arange(10), 2), np.tile([1, 2], 10), 10, 10)
    rng = np.random.default_rng
    kwargs = {"intervened_train_share": 0.1, "valid_share": 0.1, "test_share": 0.2}
    split = random_exposure_split(train, random, **kwargs, rng=rng(0))
    # 20 random records: 2 to intervened train; of 18, 18 * 1/3 = 6 to valid, 12 to test
    assert (len(split.train_intervened), len(split.valid), len(split.test)) == (2, 6, 12)
    again = random_exposure_split(train, random, **kwargs, rng=rng(0))
    other = random_exposure_split(train, random, **kwargs, rng=rng(1))
    assert np.array_equal(split.test.keys(), again.test.keys())
    assert not np.array_equal(split.test.keys(), other.test.keys())
    everything = np.concatenate(
        [split.part(p).keys() for p in ("train_intervened", "valid", "test")]
    )
    assert np.array_equal(np.sort(everything), np.sort(random.keys()))


def test_a_missing_file_says_which_where_to_get_it_and_where_to_place_it(tmp_path):
    with pytest.raises(DiceError) as info:
        read_parts("coat", tmp_path / "coat")
    assert str(info.value) == (
        f"{tmp_path / 'coat' / 'train.ascii'}: not found (expected train.ascii, from the Coat data "
        "of Schnabel et al., ICML'16 (https://www.cs.cornell.edu/~schnabts/mnar/): place the "
        "publisher's file there, unchanged; test.ascii is missing too)"
    )
    write_coat(tmp_path / "coat", BIASED, RANDOM, shape=(5, 5))
    (tmp_path / "coat" / "test.ascii").unlink()
    with pytest.raises(DiceError, match=r"coat/test.ascii: not found \(expected test.ascii, from"):
        read_parts("coat", tmp_path / "coat")


def test_the_plan_stops_at_an_absent_file_with_one_line(tmp_path, monkeypatch, capsys):
    from dice.cli import main

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "mine.yaml"
    datasets = {"music": {"source": "yahoo_r3"}, "video": {"source": "kuairec"}}
    config.write_text(yaml.safe_dump({"datasets": datasets}))
    assert main(["plan", "--config", str(config)]) == 2
    expected = (
        f"error: {tmp_path}/resources/raw/yahoo_r3/ydata-ymusic-rating-study-v1_0-train.txt: not "
        "found (expected ydata-ymusic-rating-study-v1_0-train.txt of dataset 'music', from "
        "Yahoo! Webscope dataset R3, after accepting its licence "
        "(https://webscope.sandbox.yahoo.com/catalog.php?datatype=r&did=3): place the publisher's "
        "file there, unchanged; ydata-ymusic-rating-study-v1_0-test.txt is missing too)\n"
    )
    assert capsys.readouterr().err == expected
    synthetic_files(tmp_path / "resources" / "raw")
    (tmp_path / "resources" / "raw" / "kuairec" / "small_matrix.csv").write_text("")
    assert main(["plan", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path}/resources/raw/kuairec/small_matrix.csv: is empty (expected "
        "small_matrix.csv of dataset 'video', from KuaiRec 2.0, folder 'KuaiRec 2.0/data' of "
        "its archive (https://kuairec.com): place the publisher's file there, unchanged)\n"
    )


def synthetic_files(root, seed=0, n_users=30, n_items=25):
    """Files in the three publishers' formats: ratings 1-5, popularity-skewed biased part."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1)
    rows = {"biased": [], "random": []}
    for user in range(n_users):
        for item in rng.choice(n_items, 10, replace=False, p=popularity / popularity.sum()):
            rows["biased"].append((user, int(item), int(rng.integers(3, 6))))
        for item in rng.choice(n_items, 5, replace=False):
            rows["random"].append((user, int(item), int(rng.integers(3, 6))))
    one_based = {k: [(u + 1, i + 1, r) for u, i, r in v] for k, v in rows.items()}
    write_yahoo(root / "yahoo_r3", one_based["biased"], one_based["random"])
    write_coat(root / "coat", rows["biased"], rows["random"], shape=(n_users, n_items))
    ratios = [[(u, i, r / 2) for u, i, r in rows[k]] for k in ("biased", "random")]
    write_kuairec(root / "kuairec", *ratios)  # watch ratios 1.5 to 2.5


EVERY_METHOD = ["none", "ips", "ips-c", "ips-cn", "ips-cnsr", "cause", "dice", "itempop",
                "pd", "pda", "macr", "rel-mf", "bc-loss"]  # fmt: skip


def workflow_config(path, *, methods=EVERY_METHOD, backbones=("mf", "lightgcn")):
    config = {
        "datasets": {s: {"source": s} for s in ("yahoo_r3", "coat", "kuairec")},
        "backbones": list(backbones),
        "methods": list(methods),
        "method_settings": {"ips-cnsr": {"ips_smoothing": 0.5}},
        "profile": "smoke",
        "train": {"max_epochs": 2, "drop_last": False},
        "evaluation": {"ks": [5, 10], "valid_metric": "recall@10"},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_workflow_names_a_missing_file_and_plans_every_method_on_the_three(tmp_path):
    from tests.test_workflow import snakemake

    config = str(workflow_config(tmp_path / "random.yaml"))
    synthetic_files(tmp_path / "resources" / "raw")
    missing = tmp_path / "resources" / "raw" / "coat" / "test.ascii"
    missing.unlink()
    result = snakemake("all", "-n", "--cores", "1", "--configfile", config, cwd=tmp_path)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {missing}: not found (expected test.ascii of dataset 'coat', from the Coat data "
        "of Schnabel et al., ICML'16 (https://www.cs.cornell.edu/~schnabts/mnar/): place the "
        "publisher's file there, unchanged)"
    ]
    assert "Traceback" not in result.stderr + result.stdout
    synthetic_files(tmp_path / "resources" / "raw")
    result = snakemake("all", "-n", "--cores", "1", "--configfile", config, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("rule train:") + result.stdout.count("localrule train:") >= 1
    for source in ("yahoo_r3", "coat", "kuairec"):
        assert f"/{source}/cap0.9-share0.1/lightgcn/dice/seed0" in result.stdout


@pytest.mark.slow
def test_the_workflow_runs_on_the_three(tmp_path):
    # every method and backbone is planned above; running a BPR, DICE and ItemPop on MF keeps
    # the test short (running all 78 runs also passes, but takes many minutes on 2 cores)
    from tests.test_workflow import snakemake

    synthetic_files(tmp_path / "resources" / "raw")
    methods = ["none", "dice", "itempop"]
    config = str(workflow_config(tmp_path / "random.yaml", methods=methods, backbones=["mf"]))
    result = snakemake("all", "--cores", "2", "--configfile", config, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results" / "random" / "tables" / "table2.csv")
    assert set(table["dataset"]) == {"yahoo_r3", "coat", "kuairec"}
    assert len(table.groupby(["dataset", "backbone", "method"])) == 3 * 1 * len(methods)
    recall = table[table["metric"] == "recall"]
    assert set(zip(recall["dataset"], recall["k"], strict=True)) == {
        (d, k) for d in ("yahoo_r3", "coat", "kuairec") for k in (5, 10)
    }
    assert recall["mean"].between(0, 1).all()
    check_table1(tmp_path / "results" / "random" / "tables" / "table1.csv")


def check_table1(path):
    """Table 1 has a row per source; the same ratings (see `synthetic_files`) give Yahoo! R3 and
    Coat (>= 4) the same count, KuaiRec (ratings / 2 > 2: only the fives) fewer."""
    ours = pd.read_csv(path).query("source == 'ours'").set_index("dataset")["interactions"]
    assert set(ours.index) == {"yahoo_r3", "coat", "kuairec"}
    assert ours["yahoo_r3"] == ours["coat"] > ours["kuairec"] > 0


def test_placed_files_are_part_of_the_data_identity(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the plan looks in resources/raw/<source>/ of the run folder
    with pytest.raises(DiceError, match="train.ascii: not found"):
        data_stage(config_for("coat"), "d")
    write_coat(tmp_path / "resources" / "raw" / "coat", BIASED, RANDOM, shape=(5, 5))
    placed = data_stage(config_for("coat"), "d")
    assert set(placed.settings["files_sha256"]) == {"train.ascii", "test.ascii"}
    write_coat(tmp_path / "resources" / "raw" / "coat", BIASED[:-1], RANDOM, shape=(5, 5))
    changed = data_stage(config_for("coat"), "d")
    assert placed.id != changed.id
