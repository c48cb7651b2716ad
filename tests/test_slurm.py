"""profiles/slurm on a real (one-node) SLURM cluster: every rule runs as a SLURM job, and a
training job cancelled mid-run (`scancel`) is resubmitted and resumes from its checkpoint.

The cluster comes from scripts/slurm-local.sh (root, Debian's slurm-wlm and munge, no
systemd). Run with `pytest tests/test_slurm.py -s` to see the submissions.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "slurm-local.sh"
PROFILE = ROOT / "profiles" / "slurm"
SNAKEFILE = ROOT / "workflow" / "Snakefile"
TRAINED = "none"  # the trainable method whose job is cancelled
EPOCHS = 8  # under the early-stopping horizon (lr must first fall to min_lr), so all run
# The synthetic tiny preset, one backbone, a popularity baseline and a trained MF; small
# batches make each epoch take a second or two, long enough to cancel a job between epochs.
TINY_CONFIG = f"""
datasets:
  tiny: {{source: synthetic, preset: tiny}}
backbones: [mf]
methods: [itempop, {TRAINED}]
seeds: [0]
profile: tinytest
train: {{max_epochs: {EPOCHS}}}
profiles:
  tinytest: {{batch_size: 64}}
"""
# The plugin's options for a cluster without an accounting database (see docs/slurm.md).
LOCAL_CLUSTER_OPTIONS = (
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1",
)  # fmt: skip
RUN_LIMIT_S = 1500  # hard bound on the whole workflow (about 5 min on 2 busy cores)
CHECKPOINT_LIMIT_S = 900  # bound on waiting for the first checkpoint of the trained run

MISSING = [tool for tool in ("slurmctld", "slurmd", "munged", "sbatch") if not shutil.which(tool)]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"SLURM not installed ({', '.join(MISSING)} missing): "
        "apt-get install slurm-wlm munge",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="a local SLURM cluster needs root"),
]


def tool_env() -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A one-node cluster for this module; every daemon it started is stopped afterwards."""
    env = {**os.environ, "SLURM_LOCAL_DIR": str(tmp_path_factory.mktemp("slurm-state"))}
    try:
        up = subprocess.run(["bash", str(SCRIPT), "up"], env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
        if up.returncode != 0:
            pytest.fail(f"slurm-local.sh up failed: {up.stderr.strip()}")
        yield env["SLURM_LOCAL_DIR"]
    finally:
        subprocess.run(["bash", str(SCRIPT), "down"], env=env, timeout=120)


def squeue(*args: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", *args], capture_output=True, text=True, timeout=30)
    return [line for line in out.stdout.splitlines() if line.strip()]


def training_job_id(method: str) -> str:
    """The SLURM id of the running train job of `method` (the plugin comments each job with its
    rule and wildcard values: rule_train_wildcards_<dataset>_<split>_<backbone>_<method>_<seed>)."""
    for line in squeue("-t", "RUNNING", "-o", "%i %k"):
        job_id, _, comment = line.partition(" ")
        if comment.startswith("rule_train_") and f"_{method}_" in comment:
            return job_id
    raise AssertionError(f"no running train job of {method}: {squeue('-o', '%i %T %k')}")


def wait_for(find, proc: subprocess.Popen, limit_s: float):
    """Poll `find()` until it returns something, the workflow ends, or limit_s passes."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        found = find()
        if found:
            return found
        time.sleep(0.2)
    return None


def checkpoints(workdir: Path, method: str) -> list[Path]:
    return [p for p in (workdir / "results" / "runs").rglob("checkpoint.pt") if method in p.parts]


def cancel_mid_training(workdir: Path, proc: subprocess.Popen) -> tuple[str, list[dict]]:
    """Once the trained run has written a checkpoint, cancel its job; returns the job id and
    the history the checkpoint held."""
    found = wait_for(lambda: checkpoints(workdir, TRAINED), proc, CHECKPOINT_LIMIT_S)
    assert found, "the trained run wrote no checkpoint.pt (or the workflow ended first)"
    job_id = training_job_id(TRAINED)
    saved = torch.load(found[0], weights_only=False)["state"]["history"]
    subprocess.run(["scancel", job_id], check=True, timeout=30)
    return job_id, saved


def run_workflow(workdir: Path) -> tuple[subprocess.CompletedProcess, str, list[dict], float]:
    config = workdir / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory",
               str(workdir), "--profile", str(PROFILE), "--configfile", str(config),
               *LOCAL_CLUSTER_OPTIONS]  # fmt: skip
    log = (workdir / "snakemake.out").open("w")
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=workdir, env=tool_env(), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        job_id, saved = cancel_mid_training(workdir, proc)
        proc.wait(timeout=RUN_LIMIT_S)
    finally:
        stop(proc)
        log.close()
    out = (workdir / "snakemake.out").read_text()
    result = subprocess.CompletedProcess(command, proc.returncode, out, "")
    return result, job_id, saved, time.monotonic() - start


def stop(proc: subprocess.Popen) -> None:
    """End a workflow still running (Snakemake cancels its SLURM jobs on SIGTERM)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass


def submissions(out: str) -> list[tuple[str, str]]:
    """(snakemake job id, SLURM job id) of every submission in the workflow's output."""
    return re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", out)


def test_a_cancelled_training_job_is_resubmitted_and_resumes(slurm_cluster, tmp_path):
    result, cancelled, saved, seconds = run_workflow(tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    state = squeue("-t", "all", "-j", cancelled, "-o", "%T")
    assert state == ["CANCELLED"], f"job {cancelled} was not cancelled mid-run: {state}"

    submitted = submissions(result.stdout)
    assert cancelled in {slurm_id for _, slurm_id in submitted}
    runs = [p.parent for p in (tmp_path / "results" / "runs").rglob("train.json")]
    trained = [run for run in runs if TRAINED in run.parts]
    assert len(runs) == 2 and len(trained) == 1, runs
    # Every job of the DAG ran on SLURM once, the cancelled one twice.
    dag_jobs = int(re.search(r"^total\s+(\d+)", result.stdout, re.M).group(1))
    local_jobs = result.stdout.count("localrule ")
    assert len(submitted) == dag_jobs - local_jobs + 1, result.stdout[-4000:]

    history = pd.read_csv(trained[0] / "history.csv")
    assert history["epoch"].tolist() == list(range(EPOCHS))
    # Resumed, not restarted: the epochs trained before the cancel keep the values the
    # checkpoint held, wall-clock timings included (a fresh start would re-time them).
    assert saved, "the checkpoint held no finished epoch"
    for row in saved:
        kept = history.loc[history["epoch"] == row["epoch"]].iloc[0]
        for key, value in row.items():
            if isinstance(value, float):
                assert kept[key] == pytest.approx(value, rel=1e-12, abs=0), (row["epoch"], key)
    train_logs = [p.read_text() for p in (tmp_path / "results" / "logs" / "train").rglob("*.log")]
    resumed = re.findall(r"resumed from \S+ at epoch (\d+)", "\n".join(train_logs))
    # one resume, at the checkpoint read above or a later one written before the cancel landed
    assert len(resumed) == 1 and int(resumed[0]) >= len(saved), resumed
    print(f"\nSLURM submissions (snakemake job, SLURM job): {submitted}")
    print(f"cancelled SLURM job {cancelled} after epoch {len(saved) - 1}; the rerun resumed at "
          f"epoch {resumed[0]}; whole workflow {seconds:.0f} s")  # fmt: skip
