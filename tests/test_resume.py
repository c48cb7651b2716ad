"""Resume: a training job killed at any point restarts from its last epoch checkpoint (model,
optimiser, scheduler, curriculum, RNG states) and ends exactly like an uninterrupted run.

In-process tests interrupt `train_run` at chosen points (between epochs, mid-epoch after some
optimiser steps, while the checkpoint is being written); a slow test runs the real
``python -m dice train`` in a process that SIGKILLs itself right after its second checkpoint,
then runs the same command again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import dice.io
import dice.train
from dice.config import run_settings
from dice.io import read_json
from dice.runs import evaluate_run, train_run

TIMING = ("seconds_per_epoch", "peak_memory_mib")
ROOT = Path(__file__).resolve().parents[1]


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even `except Exception` handlers)."""


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory, small_split) -> Path:
    folder = tmp_path_factory.mktemp("split")
    small_split.save(folder, meta={"seed": 0})
    return folder


def settings(config, method: str, backbone: str, epochs: int = 4) -> dict:
    resolved = run_settings(config, method=method, backbone=backbone)
    # lr_patience 0: the plateau scheduler acts within a short run, so its state matters
    resolved["train"] |= {"max_epochs": epochs, "batch_size": 256, "lr_patience": 0}
    return resolved


def outcome(out: Path) -> tuple[dict, dict, pd.DataFrame]:
    info = {k: v for k, v in read_json(out / "train.json").items() if k not in TIMING}
    history = pd.read_csv(out / "history.csv").filter(regex="^(?!seconds)")
    return info, torch.load(out / "model.pt", weights_only=True), history


def assert_same(a: Path, b: Path) -> None:
    info_a, model_a, hist_a = outcome(a)
    info_b, model_b, hist_b = outcome(b)
    assert info_a == info_b
    assert all(torch.equal(model_a[k], model_b[k]) for k in model_a)
    pd.testing.assert_frame_equal(hist_a, hist_b, check_exact=True)


def kill_at_epoch_start(monkeypatch, epoch: int) -> None:
    original = dice.train.Trainer.run_epoch

    def run_epoch(self):
        if self.state.epoch == epoch:
            raise Killed
        original(self)

    monkeypatch.setattr(dice.train.Trainer, "run_epoch", run_epoch)


def kill_after_steps(monkeypatch, steps: int) -> None:
    """Kill inside an epoch, after `steps` optimiser steps in all (the model has moved on)."""
    original, count = dice.train.Trainer._train_steps, {"steps": 0}

    def train_steps(self, samples, epoch):
        step = self.optimizer.step

        def counted(*args, **kwargs):
            count["steps"] += 1
            if count["steps"] > steps:
                raise Killed
            return step(*args, **kwargs)

        self.optimizer.step = counted
        try:
            return original(self, samples, epoch)
        finally:
            self.optimizer.step = step

    monkeypatch.setattr(dice.train.Trainer, "_train_steps", train_steps)


def kill_while_checkpointing(monkeypatch, nth: int) -> None:
    """Kill while the `nth` checkpoint is half written (into its temporary file)."""
    original, count = dice.io.write_with, {"saves": 0}

    def write_with(path, writer):
        if Path(path).name == "checkpoint.pt":
            count["saves"] += 1
            if count["saves"] == nth:

                def half(tmp: Path) -> None:
                    tmp.write_bytes(b"half a checkpoint")
                    raise Killed

                return original(path, half)
        return original(path, writer)

    monkeypatch.setattr(dice.io, "write_with", write_with)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, split_dir, suite_config):
    """The uninterrupted run of each (backbone, method), trained once for the module."""
    done: dict[tuple[str, str], Path] = {}

    def get(backbone: str, method: str) -> Path:
        if (backbone, method) not in done:
            out = tmp_path_factory.mktemp(f"whole-{backbone}-{method}")
            resolved = settings(suite_config, method, backbone)
            train_run(split_dir, resolved, seed=1, out=out, progress=False)
            done[backbone, method] = out
        return done[backbone, method]

    return get


# 3 500 training positives in batches of 256: 13 steps per epoch, so step 3 is inside the
# first epoch (before any checkpoint) and step 20 inside the second
KILLS = [("steps", 3), ("steps", 20), ("epoch", 3), ("checkpoint", 2)]
CASES = [
    *(pytest.param("mf", "ips-cn", kill, id=f"mf-ips-cn-{kill[0]}{kill[1]}") for kill in KILLS),
    # LightGCN-DICE: curriculum buffers and the dropout generator; one kill point by default
    *(pytest.param("lightgcn", "dice", kill, id=f"lightgcn-dice-{kill[0]}{kill[1]}",
                   marks=() if kill == ("steps", 20) else pytest.mark.slow) for kill in KILLS),
]  # fmt: skip


@pytest.mark.parametrize(("backbone", "method", "kill"), CASES)
def test_a_killed_run_resumes_to_the_uninterrupted_result(
    tmp_path, split_dir, suite_config, monkeypatch, uninterrupted, backbone, method, kill
):
    resolved = settings(suite_config, method, backbone)
    with monkeypatch.context() as patch:
        {"epoch": kill_at_epoch_start, "steps": kill_after_steps,
         "checkpoint": kill_while_checkpointing}[kill[0]](patch, kill[1])  # fmt: skip
        with pytest.raises(Killed):
            train_run(split_dir, resolved, seed=1, out=tmp_path / "killed", progress=False)
    assert not (tmp_path / "killed" / "train.json").exists()
    train_run(split_dir, resolved, seed=1, out=tmp_path / "killed", progress=False)
    assert_same(uninterrupted(backbone, method), tmp_path / "killed")
    assert not (tmp_path / "killed" / "checkpoint.pt").exists()  # removed once finished


def test_the_checkpoint_holds_every_piece_of_state(tmp_path, split_dir, suite_config, monkeypatch):
    resolved = settings(suite_config, "dice", "lightgcn")
    kill_at_epoch_start(monkeypatch, 2)
    with pytest.raises(Killed):
        train_run(split_dir, resolved, seed=1, out=tmp_path, progress=False)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert set(saved) == {"model", "optimizer", "scheduler", "state", "sample_rng",
                          "shuffle_rng", "dropout_gen"}  # fmt: skip
    assert saved["state"]["epoch"] == 2
    # the curriculum (DICE §3.3): α and m_up decayed twice by 0.9
    assert float(saved["model"]["margin_up"]) == pytest.approx(40 * 0.9**2)
    assert float(saved["model"]["alpha_interest"]) == pytest.approx(0.1 * 0.9**2)


def test_a_finished_run_is_not_overwritten_unless_forced(tmp_path, split_dir, suite_config):
    from dice.errors import DiceError

    resolved = settings(suite_config, "none", "mf", epochs=1)
    first = train_run(split_dir, resolved, seed=0, out=tmp_path, progress=False)
    model = (tmp_path / "model.pt").read_bytes()
    assert train_run(split_dir, resolved, seed=0, out=tmp_path, progress=False) == first  # done
    with pytest.raises(DiceError, match="other settings or seed is here; pass --force"):
        train_run(split_dir, resolved, seed=1, out=tmp_path, progress=False)
    train_run(split_dir, resolved, seed=0, out=tmp_path, progress=False, force=True)
    assert (tmp_path / "model.pt").read_bytes() == model  # retrained: the same bytes


def command(split_dir: Path, resolved: dict, out: Path) -> list[str]:
    return ["-m", "dice", "train", "--split", str(split_dir), "--settings", json.dumps(resolved),
            "--seed", "3", "--out", str(out), "--threads", "1", "--device", "cpu"]  # fmt: skip


# Run as `python -c KILL_AFTER_CHECKPOINT N <dice CLI arguments>`: the CLI, with
# `Trainer.save_checkpoint` wrapped so that the process SIGKILLs itself right after the N-th
# checkpoint is on disk (the only coupling of this module to the trainer's internals).
KILL_AFTER_CHECKPOINT = """
import os, signal, sys
import dice.train
from dice.cli import main

nth, original, written = int(sys.argv[1]), dice.train.Trainer.save_checkpoint, []


def save_checkpoint(self, path):
    original(self, path)
    written.append(path)
    if len(written) == nth:
        os.kill(os.getpid(), signal.SIGKILL)


dice.train.Trainer.save_checkpoint = save_checkpoint
sys.exit(main(sys.argv[2:]))
"""


def metrics(split_dir: Path, resolved: dict, run: Path) -> dict:
    """Test metrics of a finished run folder, without its timings."""
    found = evaluate_run(split_dir, resolved, seed=3, run_dir=run)
    return {k: v for k, v in found.items() if k not in TIMING}


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_rerun_gives_the_uninterrupted_result(
    tmp_path, split_dir, suite_config
):
    resolved = settings(suite_config, "dice", "lightgcn", epochs=4)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run([sys.executable, *command(split_dir, resolved, whole)], check=True, env=env,
                   capture_output=True)  # fmt: skip
    process = subprocess.run([sys.executable, "-c", KILL_AFTER_CHECKPOINT, "2",
                              *command(split_dir, resolved, killed)[2:]], env=env,
                             capture_output=True)  # fmt: skip
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
    assert not (killed / "train.json").exists()
    assert torch.load(killed / "checkpoint.pt", weights_only=False)["state"]["epoch"] == 2
    subprocess.run([sys.executable, *command(split_dir, resolved, killed)], check=True, env=env,
                   capture_output=True)  # fmt: skip
    assert_same(whole, killed)
    assert metrics(split_dir, resolved, whole) == metrics(split_dir, resolved, killed)
