"""A non-editable install works outside the repository: the wheel carries its package data
(schema inputs, the dataset catalogue, the paper's values), `dice --help` runs, and the stage
commands run a user's own config from an empty folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USER_CONFIG = """\
datasets:
  mine:
    source: synthetic
    preset: tiny
methods: [none, dice-l1]
profile: fast
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The suite installed (not editable, no dependencies) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)  # fmt: skip
    return target


def _run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run([str(installed / "bin" / "dice"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.slow
def test_installed_package_runs_from_an_empty_folder(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed)}
    where = subprocess.run([sys.executable, "-c", "import dice; print(dice.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(installed)  # not the source tree
    assert (installed / "dice" / "data" / "catalogue.yaml").is_file()

    usage = _run(installed, tmp_path, "--help")
    assert usage.returncode == 0, usage.stderr
    assert "prepare" in usage.stdout and "train" in usage.stdout

    (tmp_path / "mine.yaml").write_text(USER_CONFIG)
    prepared = _run(installed, tmp_path, "prepare", "--config", "mine.yaml", "--dataset", "mine",
                    "--out", "data")  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    split = _run(installed, tmp_path, "split", "--config", "mine.yaml", "--data", "data",
                 "--out", "split")  # fmt: skip
    assert split.returncode == 0, split.stderr
    assert json.loads(split.stdout)["interactions"] > 0
    assert sorted(p.name for p in (tmp_path / "split").glob("*.parquet"))[:2] == [
        "counterfactual.parquet", "test.parquet"]  # fmt: skip
    plan = _run(installed, tmp_path, "plan", "--config", "mine.yaml", "runs")
    assert plan.returncode == 0, plan.stderr
    assert "mine/cap0.9-share0.1/mf/dice-l1/seed0" in plan.stdout
