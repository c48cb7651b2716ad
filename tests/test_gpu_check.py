"""benchmarks/gpu_check without a GPU: it refuses in one line with exit code 2, its plan of runs
is the four faithful ml10m-like cells, and its parts run on the CPU on a tiny split (timing,
two identical runs compared bit for bit, the agreement against the verify bands)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu_check"


def load_script():
    loader = SourceFileLoader("gpu_check", str(SCRIPT))
    module = module_from_spec(spec_from_loader("gpu_check", loader))
    loader.exec_module(module)
    return module


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, whatever the machine has
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)  # fmt: skip


def test_without_cuda_it_refuses_in_one_line_with_exit_code_2():
    done = run_script()
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "CUDA" in done.stderr
    assert done.stdout == ""


def test_dry_run_prints_the_plan_of_runs_without_a_gpu():
    done = run_script("--dry-run")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    cells = {(c["backbone"], c["method"]) for c in got["cells"]}
    assert cells == {("mf", "none"), ("mf", "dice"), ("lightgcn", "none"), ("lightgcn", "dice")}
    assert {(c["dataset"], c["profile"]) for c in got["cells"]} == {("ml10m-like", "faithful")}
    assert got["budget_s"] <= 480 and all(c["epochs"] >= 2 for c in got["cells"])


def test_agreement_flags_a_metric_outside_its_band():
    check = load_script()
    # recall band at 0.1: 0.005 + 0.02 * 0.1 = 0.007 (dice.verify.DEFAULT_TOLERANCES)
    inside = check.agreement({"test/recall@20": 0.1}, {"test/recall@20": 0.1069})
    outside = check.agreement({"test/recall@20": 0.1}, {"test/recall@20": 0.1071})
    assert inside["within_bands"] and not outside["within_bands"]


@pytest.mark.parametrize("backbone", ["mf", "lightgcn"])
def test_every_part_runs_on_the_cpu_on_a_tiny_split(backbone, suite_config, small_split, tmp_path):
    check = load_script()
    small_split.save(tmp_path / "split", meta={"seed": 0})
    cell = next(c for c in check.plan() if c["backbone"] == backbone and c["method"] == "dice")
    cell |= {"epochs": 1, "warmup": 0, "max_steps": 2, "eval_repeats": 1, "check_steps": 3}
    got = check.check_cell(tmp_path / "split", suite_config, cell, device="cpu")
    assert got["timing"]["seconds"] > 0 and got["timing"]["steps_timed"] == 2
    assert got["determinism"]["identical_parameters"] and got["determinism"]["identical_metrics"]
    assert got["agreement"]["within_bands"]  # CPU against CPU: equal
    assert "| dice |" in check.markdown({"gpu": "cpu", "updated": "now", "seconds": 1.0,
                                         "cells": [got]})  # fmt: skip
