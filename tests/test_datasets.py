"""Raw readers: MovieLens formats, Netflix (both layouts), the simulator and malformed input."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dice.data import datasets, netflix, synthetic
from dice.data.datasets import COLUMNS, SOURCES, load_ratings, load_sources, parse_ratings_text
from dice.errors import DiceError
from dice.seeding import numpy_rng

UNREACHABLE = "http://127.0.0.1:9/"  # closed loopback port: a download attempt fails at once


def stamp(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def make_zip(path: Path, member: str, text: str) -> str:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(member, text)
    return hashlib.md5(path.read_bytes()).hexdigest()


def sources_with(tmp_path: Path, **changes: dict) -> Path:
    """A copy of the dataset catalogue (dice/data/catalogue.yaml) with some entries changed."""
    table = load_sources()
    for key, change in changes.items():
        table[key] = {**table[key], **change}
    path = tmp_path / "datasets.yaml"
    path.write_text(yaml.safe_dump(table))
    return path


# --- the real dataset table ------------------------------------------------------------------


def test_dataset_table_pins_every_grouplens_archive():
    table = load_sources()
    for key in ("ml100k", "ml1m", "ml10m", "ml20m"):
        entry = table[key]
        assert entry["url"] == f"https://files.grouplens.org/datasets/movielens/{entry['archive']}"
        assert re.fullmatch(r"[0-9a-f]{32}", entry["md5"])
    assert table["ml10m"]["member"] == "ml-10M100K/ratings.dat"
    assert re.fullmatch(r"[0-9a-f]{64}", table["ml100k"]["recbole"]["sha256"])


def test_unknown_source_is_an_error(tmp_path):
    with pytest.raises(DiceError, match="unknown dataset source 'ml5m'"):
        load_ratings("ml5m", raw_dir=tmp_path)
    assert "synthetic" in SOURCES


# --- ML-100K ---------------------------------------------------------------------------------

RECBOLE = datasets.recbole_copy(load_sources()["ml100k"]["recbole"])


@pytest.mark.realdata
@pytest.mark.skipif(RECBOLE is None, reason="recbole wheel not installed")
def test_ml100k_from_recbole_matches_a_csv_module_reading(tmp_path):
    frame = load_ratings("ml100k", raw_dir=tmp_path)
    with RECBOLE.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))[1:]
    expected = np.array(rows, dtype=np.float64)
    assert list(frame.columns) == list(COLUMNS)
    assert [str(t) for t in frame.dtypes] == ["int64", "int64", "float64", "int64"]
    np.testing.assert_array_equal(frame.to_numpy(np.float64), expected)
    assert (len(frame), frame.user.nunique(), frame.item.nunique()) == (100_000, 943, 1682)
    assert not list(tmp_path.iterdir())  # nothing downloaded


@pytest.mark.skipif(RECBOLE is None, reason="recbole wheel not installed")
def test_ml100k_does_not_import_recbole():
    code = "import sys; from dice.data.datasets import load_ratings; "
    code += "load_ratings('ml100k', raw_dir='.'); print('recbole' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ml100k_without_wheel_downloads_the_grouplens_zip(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    md5 = make_zip(served / "ml-100k.zip", "ml-100k/u.data", "1\t10\t5\t100\n2\t10\t3\t90\n")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/ml-100k.zip"
    monkeypatch.setattr(datasets, "recbole_copy", lambda spec: None)
    try:
        frame = load_ratings(
            "ml100k",
            raw_dir=tmp_path / "raw",
            sources_file=sources_with(tmp_path, ml100k={"url": url, "md5": md5}),
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert frame.to_dict("list") == {
        "user": [1, 2],
        "item": [10, 10],
        "rating": [5.0, 3.0],
        "timestamp": [100, 90],
    }
    assert (tmp_path / "raw" / "ml-100k.zip").exists()


# --- ML-1M / 10M / 20M from placed archives ---------------------------------------------------

ML_CASES = {
    "ml1m": ("ml-1m.zip", "ml-1m/ratings.dat", "1::1193::5::978300760\n2::661::3::978302109\n"),
    "ml10m": (
        "ml-10m.zip",
        "ml-10M100K/ratings.dat",
        "1::122::4.5::838985046\n2::185::5::838983525\n",
    ),
    "ml20m": (
        "ml-20m.zip",
        "ml-20m/ratings.csv",
        "userId,movieId,rating,timestamp\n1,122,4.5,838985046\n2,185,5.0,838983525\n",
    ),
}


@pytest.mark.parametrize("source", ["ml1m", "ml10m", "ml20m"])
def test_movielens_archives_parse(tmp_path, source):
    archive, member, text = ML_CASES[source]
    md5 = make_zip(tmp_path / archive, member, text)
    sources = sources_with(tmp_path, **{source: {"url": UNREACHABLE, "md5": md5}})
    frame = load_ratings(source, raw_dir=tmp_path, sources_file=sources)
    first = {"ml1m": (1, 1193, 5.0, 978300760)}.get(source, (1, 122, 4.5, 838985046))
    assert tuple(frame.iloc[0]) == first
    assert len(frame) == 2 and [str(t) for t in frame.dtypes] == [
        "int64",
        "int64",
        "float64",
        "int64",
    ]


def test_archive_with_wrong_checksum_or_missing_is_reported(tmp_path):
    archive, member, text = ML_CASES["ml1m"]
    make_zip(tmp_path / archive, member, text)
    with pytest.raises(DiceError, match="checksum mismatch"):  # the real pinned md5 differs
        load_ratings("ml1m", raw_dir=tmp_path)
    sources = sources_with(tmp_path, ml10m={"url": UNREACHABLE})
    dest = tmp_path / "empty" / "ml-10m.zip"
    with pytest.raises(DiceError) as err:
        load_ratings("ml10m", raw_dir=tmp_path / "empty", sources_file=sources)
    assert str(err.value).startswith(f"{dest}: download of {UNREACHABLE} failed, no connection")
    assert "no byte was received" in str(err.value)
    md5 = load_sources()["ml10m"]["md5"]
    assert str(err.value).endswith(f"place ml-10m.zip (md5 {md5}) at this exact path yourself")


def test_truncated_zip_and_missing_member_are_one_line_errors(tmp_path):
    archive, member, text = ML_CASES["ml1m"]
    make_zip(tmp_path / "full.zip", member, text * 50)
    data = (tmp_path / "full.zip").read_bytes()
    (tmp_path / archive).write_bytes(data[: len(data) // 2])
    md5 = hashlib.md5((tmp_path / archive).read_bytes()).hexdigest()
    sources = sources_with(tmp_path, ml1m={"url": UNREACHABLE, "md5": md5})
    with pytest.raises(DiceError, match="corrupt or truncated zip") as err:
        load_ratings("ml1m", raw_dir=tmp_path, sources_file=sources)
    assert "\n" not in str(err.value) and archive in str(err.value)
    md5 = make_zip(tmp_path / archive, "ml-1m/other.dat", text)
    sources = sources_with(tmp_path, ml1m={"url": UNREACHABLE, "md5": md5})
    with pytest.raises(DiceError, match="has no member ml-1m/ratings.dat"):
        load_ratings("ml1m", raw_dir=tmp_path, sources_file=sources)


@pytest.mark.parametrize(
    ("fmt", "text", "problem"),
    [
        ("dat", "", "file is empty"),
        ("dat", "\n  \n", "file is empty"),
        ("dat", "1::2::5::100\nx::2::5::100\n", "could not convert string to float: 'x'"),
        ("dat", "1::2.5::5::100\n", "integer item value invalid"),
        ("dat", "1::2::5::100::7\n", "wrong number of columns"),
        ("dat", "1\t2::5::100\n", "unexpected tab"),
        ("dat", "1::2::5::100\n1::2::5::100::7\n", "Expected 4 fields in line 2"),
        ("dat", "1::2::5::100\n3::4::5\n", "timestamp value missing .* in record 2"),
        ("tab", "1\t2\tnan\t100\n", "rating value missing"),
        ("csv", "user,item,rating,timestamp\n1,2,3,4\n", "unexpected header"),
        ("inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n", "no ratings"),
    ],
)
def test_malformed_text_names_file_and_problem(fmt, text, problem):
    with pytest.raises(DiceError, match=problem) as err:
        parse_ratings_text(text.encode(), fmt=fmt, path="ratings.dat")
    assert str(err.value).startswith("ratings.dat: ") and "\n" not in str(err.value)


TOKEN = st.one_of(
    st.integers(-5, 10**6).map(str), st.sampled_from(["4.5", "x", "", "nan", "1e20", " 7", '"'])
)
SEP = st.sampled_from(["::", "::", "::", "::", ":", "\t", ","])
NOISY = st.tuples(TOKEN, st.lists(st.tuples(SEP, TOKEN), max_size=5)).map(
    lambda x: x[0] + "".join(s + t for s, t in x[1])
)
INT = st.integers(-5, 10**6).map(str)
GOOD = st.tuples(INT, INT, st.sampled_from(["1", "2.5", "5"]), INT).map("::".join)
LINE = st.one_of(GOOD, GOOD, NOISY)


def oracle_dat(data: bytes) -> list[tuple] | None:
    """A plain-Python reading of well-formed "u::i::r::t" lines; None when anything is off."""
    try:
        lines = re.split(r"\r\n|\r|\n", data.decode())
        rows = [line.split("::") for line in lines if line.strip()]
        rows = [(int(u), int(i), float(r), int(t)) for u, i, r, t in rows]
    except ValueError:  # a wrong field count, a non-number or bad UTF-8
        return None
    if not rows or not all(
        np.isfinite(row[2]) and max(map(abs, row[::3] + row[1:2])) < 2**53 for row in rows
    ):
        return None
    return rows


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(LINE, max_size=6),
    raw=st.one_of(st.just(b""), st.just(b""), st.binary(max_size=6)),
)
def test_random_ratings_text_gives_error_or_the_oracle_frame(lines, raw):
    data = "\n".join(lines).encode() + raw
    expected = oracle_dat(data)
    try:
        frame = parse_ratings_text(data, fmt="dat", path="r.dat")
    except DiceError as err:
        assert "\n" not in str(err)
        assert expected is None, f"rejected well-formed text: {err}"
        return
    assert [str(t) for t in frame.dtypes] == ["int64", "int64", "float64", "int64"]
    assert expected is not None and list(frame.itertuples(index=False, name=None)) == expected


# --- Netflix ---------------------------------------------------------------------------------

MOVIES = {1: "1:\n11,5,2005-09-06\n12,3,2004-01-31\n", 2: "2:\n11,4,1999-12-31\n13,5,2005-12-31"}
EXPECTED = pd.DataFrame(
    {
        "user": [11, 12, 11, 13],
        "item": [1, 1, 2, 2],
        "rating": [5.0, 3.0, 4.0, 5.0],
        "timestamp": [stamp(d) for d in ("2005-09-06", "2004-01-31", "1999-12-31", "2005-12-31")],
    }
)


def make_prize_archive(path: Path, movies: dict[int, str]) -> None:
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tar:
        for movie, text in movies.items():
            add_member(tar, f"training_set/mv_{movie:07d}.txt", text.encode())
    with tarfile.open(path, mode="w:gz") as outer:
        add_member(outer, "download/movie_titles.txt", b"1,2003,Dinosaur Planet\n")
        add_member(outer, "download/training_set.tar", inner.getvalue())


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_netflix_prize_archive(tmp_path):
    make_prize_archive(tmp_path / "nf_prize_dataset.tar.gz", MOVIES)
    pd.testing.assert_frame_equal(load_ratings("netflix", raw_dir=tmp_path), EXPECTED)


def test_netflix_kaggle_files_with_small_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(netflix, "BLOCK_BYTES", 7)  # blocks split movies: the id must carry over
    # movie 2 continues in the third file (its id is repeated there); movie 3 has no ratings
    first, second = MOVIES[2].split("13,")
    texts = [MOVIES[1], first, "2:\n13," + second + "\n3:\n", "4:\n11,1,2000-01-01"]
    for number, text in enumerate(texts, start=1):
        (tmp_path / f"combined_data_{number}.txt").write_text(text)
    row = pd.DataFrame(
        {"user": [11], "item": [4], "rating": [1.0], "timestamp": [stamp("2000-01-01")]}
    )
    expected = pd.concat([EXPECTED, row], ignore_index=True)
    pd.testing.assert_frame_equal(load_ratings("netflix", raw_dir=tmp_path), expected)


def test_netflix_missing_files_say_what_to_place_where(tmp_path):
    with pytest.raises(DiceError) as err:
        load_ratings("netflix", raw_dir=tmp_path)
    message = str(err.value)
    for name in (
        "nf_prize_dataset.tar.gz",
        "combined_data_1.txt",
        "combined_data_4.txt",
        str(tmp_path),
    ):
        assert name in message
    (tmp_path / "combined_data_1.txt").write_text(MOVIES[1])
    with pytest.raises(DiceError, match="also place combined_data_2.txt, combined_data_3.txt"):
        load_ratings("netflix", raw_dir=tmp_path)


def test_netflix_truncated_archive_is_one_line_error(tmp_path):
    rng = np.random.default_rng(0)  # incompressible text, so truncation hits the inner files
    movies = {
        m: f"{m}:\n"
        + "".join(f"{u},{rng.integers(1, 6)},2005-01-01\n" for u in rng.integers(1, 10**6, 400))
        for m in range(1, 6)
    }
    make_prize_archive(tmp_path / "full.tar.gz", movies)
    data = (tmp_path / "full.tar.gz").read_bytes()
    (tmp_path / "nf_prize_dataset.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DiceError, match="corrupt or truncated archive") as err:
        load_ratings("netflix", raw_dir=tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "11,5,2005-09-06\n",
            "line 1 '11,5,2005-09-06': a rating before the first 'MOVIEID:' line",
        ),
        ("1:\n11,5,2005-13-06\n", "line 2 '11,5,2005-13-06': invalid date '2005-13-06'"),
        ("1:\n11,5\n", "line 2 '11,5': 2 comma-separated fields; expected user,rating,YYYY-MM-DD"),
        ("1:\n11,5,2005-01-01,9\n", "line 2 '11,5,2005-01-01,9': 4 comma-separated fields"),
        ("1:\n", "holds no ratings; all 4 files are needed"),
    ],
)
def test_netflix_malformed_text(tmp_path, text, problem):
    for number in range(1, 5):
        (tmp_path / f"combined_data_{number}.txt").write_text(text if number == 1 else MOVIES[2])
    with pytest.raises(DiceError) as err:
        load_ratings("netflix", raw_dir=tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'combined_data_1.txt'}: {problem}")


# --- the simulator ---------------------------------------------------------------------------


def test_synthetic_source_delegates_to_the_simulator(tmp_path):
    frame = load_ratings("synthetic", raw_dir=tmp_path, synthetic={"preset": "tiny"}, seed=3)
    pd.testing.assert_frame_equal(
        frame, synthetic.generate({"preset": "tiny"}, rng=numpy_rng(3, "synthetic"))
    )


@pytest.mark.parametrize(("preset", "clicks"), [("tiny", 6_000), ("small", 30_000)])
def test_synthetic_presets_have_their_size_and_survive_the_default_filter(preset, clicks):
    frame = synthetic.generate({"preset": preset}, rng=numpy_rng(0, "synthetic"))
    size = synthetic.PRESETS[preset]
    assert [str(t) for t in frame.dtypes] == ["int64", "int64", "float64", "int64"]
    assert (frame.rating == 5.0).all() and (frame.timestamp == np.arange(len(frame))).all()
    assert abs(len(frame) - clicks) < 0.15 * clicks
    assert not frame.duplicated(["user", "item"]).any()
    assert (
        frame.user.between(0, size["n_users"] - 1).all()
        and frame.item.between(0, size["n_items"] - 1).all()
    )
    per_user = np.bincount(frame.user, minlength=size["n_users"])
    per_item = np.bincount(frame.item, minlength=size["n_items"])
    assert (per_user > 10).mean() > 0.9 and (per_item > 10).mean() > 0.9


def test_synthetic_is_deterministic_per_seed():
    one = synthetic.generate({"preset": "tiny"}, rng=numpy_rng(1, "synthetic"))
    pd.testing.assert_frame_equal(
        one, synthetic.generate({"preset": "tiny"}, rng=numpy_rng(1, "synthetic"))
    )
    other = synthetic.generate({"preset": "tiny"}, rng=numpy_rng(2, "synthetic"))
    assert not one.equals(other)


def top_decile_share(frame: pd.DataFrame, n_items: int) -> float:
    counts = np.sort(np.bincount(frame.item, minlength=n_items))[::-1]
    return counts[: n_items // 10].sum() / counts.sum()


def test_popularity_skew_comes_from_exposure_and_conformity():
    """Uniform would give the top 10 % of items 10 % of clicks (plus sampling noise)."""
    rng = functools.partial(numpy_rng, 0, "synthetic")
    biased = synthetic.generate({"preset": "small"}, rng=rng())
    unexposed = {"preset": "small", "exposure_bias": 0.0}
    flat = synthetic.generate(
        {**unexposed, "conformity_mean": 1e-6, "conformity_std": 0.0}, rng=rng()
    )
    conform = synthetic.generate(
        {**unexposed, "conformity_mean": 2.0, "conformity_std": 0.5}, rng=rng()
    )
    assert top_decile_share(biased, 600) > 0.25
    assert top_decile_share(flat, 600) < 0.15
    assert top_decile_share(conform, 600) > 0.17  # conformity alone skews clicks


def test_gumbel_top_k_draws_like_successive_sampling():
    w = np.array([1.0, 2.0, 3.0, 4.0])
    p = w / w.sum()
    # P(i in a 2-draw without replacement) = p_i + sum_{j != i} p_j p_i / (1 - p_j)
    exact = np.array(
        [p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(4) if j != i) for i in range(4)]
    )
    rows = 40_000
    mask = synthetic.gumbel_top_k(
        np.tile(np.log(w), (rows, 1)), np.full(rows, 2), rng=numpy_rng(0, "test")
    )
    assert (mask.sum(axis=1) == 2).all()
    np.testing.assert_allclose(mask.mean(axis=0), exact, atol=0.01)
    varying = synthetic.gumbel_top_k(
        np.zeros((3, 4)), np.array([0, 1, 4]), rng=numpy_rng(0, "test")
    )
    assert varying.sum(axis=1).tolist() == [0, 1, 4]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"preset": "huge"}, "unknown preset 'huge'"),
        ({"n_user": 5}, "unknown parameter"),
        ({"n_users": 0}, "n_users must be > 0"),
        ({"exposure_per_user": 500}, "exposure_per_user <= n_items"),
    ],
)
def test_synthetic_rejects_bad_parameters(params, problem):
    with pytest.raises(DiceError, match=problem):
        synthetic.generate(params, rng=numpy_rng(0, "synthetic"))
