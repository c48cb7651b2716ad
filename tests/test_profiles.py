"""The Snakemake profiles plan the smoke DAG without a cluster or a GPU (`-n`), as documented.

The SLURM profile needs the executor plugin that scripts/install.sh installs; without it
Snakemake stops with "invalid choice: 'slurm'".
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ROOT
from tests.test_workflow import SMOKE, snakemake


def planned_jobs(output: str) -> dict[str, int]:
    """The `Job stats` table of a dry run: rule -> number of jobs."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.parametrize("profile", ["slurm", "gpu"])
def test_profile_plans_the_smoke_dag(tmp_path, profile):
    result = snakemake("-n", "--profile", str(ROOT / "profiles" / profile),
                       "--configfile", str(SMOKE), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Using profile" in output and f"{ROOT / 'profiles' / profile}" in output
    smoke = yaml.safe_load(SMOKE.read_text())
    runs = len(smoke["backbones"]) * len(smoke["methods"]) * len(smoke["seeds"])
    jobs = planned_jobs(output)
    assert jobs["train"] == runs and "evaluate" not in jobs, jobs  # one job trains and tests
