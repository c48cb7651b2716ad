"""Determinism: the same config and seed give identical results — bit for bit on CPU, within the
documented tolerance band on GPU — and `dice verify` accepts a rerun of recorded real runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from dice.config import load_config, run_settings
from dice.io import read_json, write_json
from dice.plan import all_runs, run_dir
from dice.runs import evaluate_run, train_run
from dice.verify import DEFAULT_TOLERANCES, band, flatten_metrics, record, verify

GRID = [
    ("mf", "none"),
    ("mf", "dice"),
    ("lightgcn", "ips-cn"),
    ("lightgcn", "dice"),
    ("mf", "cause"),
]


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory, small_split) -> Path:
    folder = tmp_path_factory.mktemp("split")
    small_split.save(folder, meta={"seed": 0})
    return folder


def settings(config: dict, method: str, backbone: str) -> dict:
    resolved = run_settings(config, method=method, backbone=backbone)
    resolved["train"] |= {"max_epochs": 2, "batch_size": 256}
    return resolved


def full_run(split_dir: Path, resolved: dict, *, seed: int, out: Path, device: str = "cpu") -> dict:
    """Train and evaluate one run into `out`; its metrics.json."""
    train_run(split_dir, resolved, seed=seed, out=out, device=device, force=True, progress=False)
    evaluate_run(split_dir, resolved, seed=seed, run_dir=out, device=device,
                 context={"seed": seed})  # fmt: skip
    return read_json(out / "metrics.json")


@pytest.mark.parametrize(("backbone", "method"), GRID)
def test_same_config_and_seed_give_bit_identical_results_on_cpu(
    tmp_path, split_dir, suite_config, backbone, method
):
    resolved = settings(suite_config, method, backbone)
    first = full_run(split_dir, resolved, seed=5, out=tmp_path / "a")
    second = full_run(split_dir, resolved, seed=5, out=tmp_path / "b")
    assert flatten_metrics(first) == flatten_metrics(second)  # exact float equality
    assert (tmp_path / "a/topk.parquet").read_bytes() == (tmp_path / "b/topk.parquet").read_bytes()
    histories = [
        pd.read_csv(tmp_path / d / "history.csv").filter(regex="^(?!seconds)") for d in "ab"
    ]
    pd.testing.assert_frame_equal(*histories, check_exact=True)  # wall times aside
    a, b = (torch.load(tmp_path / d / "model.pt", weights_only=True) for d in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
    if (backbone, method) == GRID[0]:
        other = full_run(split_dir, resolved, seed=6, out=tmp_path / "c")
        assert flatten_metrics(other) != flatten_metrics(first)  # the comparison can fail


def write_config(folder: Path) -> Path:
    path = folder / "det.yaml"
    path.write_text(yaml.safe_dump({
        "datasets": {"toy": {"source": "synthetic", "preset": "tiny"}},
        "backbones": ["mf"], "methods": ["none", "dice"], "seeds": [0],
    }))  # fmt: skip
    return path


def test_verify_accepts_a_rerun_of_recorded_runs(tmp_path, split_dir):
    config_path = write_config(tmp_path)
    config, results = load_config(config_path), tmp_path / "runs"

    def run_all() -> None:
        for run in all_runs(config):
            out = Path(run_dir(run, root=str(results)))
            full_run(split_dir, settings(config, run["method"], run["backbone"]), seed=run["seed"],
                     out=out)  # fmt: skip
            info = read_json(out / "run.json") | {"context": run}
            write_json(out / "run.json", info)

    run_all()
    expected = tmp_path / "expected.json"
    write_json(expected, record(config_path, results=results))
    run_all()  # a fresh rerun, same machine and libraries
    report = verify(config_path, expected, results=results)
    assert report.ok, report.summary()
    assert set(report.modes.values()) == {"exact"} and report.moved == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("backbone", "method"), [("mf", "dice"), ("lightgcn", "dice")])
def test_gpu_reruns_agree_within_the_tolerance_band(
    tmp_path, split_dir, suite_config, backbone, method, monkeypatch
):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    resolved = settings(suite_config, method, backbone)
    runs = [full_run(split_dir, resolved, seed=5, out=tmp_path / d, device="cuda") for d in "ab"]
    cpu = full_run(split_dir, resolved, seed=5, out=tmp_path / "cpu")
    first, second, on_cpu = (flatten_metrics(m) for m in (*runs, cpu))
    for metric, value in first.items():
        allowed = band(metric, DEFAULT_TOLERANCES, value)
        assert abs(second[metric] - value) <= allowed, metric
        assert abs(on_cpu[metric] - value) <= allowed, metric
