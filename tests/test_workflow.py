"""The workflow itself: lint, plan, and the smoke configuration end to end in a scratch folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT

SNAKEFILE = ROOT / "Snakefile"  # includes workflow/Snakefile; profiles/default beside it
SMOKE = ROOT / "config" / "smoke.yaml"


def snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(cwd),
        *args,
    ]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=3000)


def test_lint_is_clean(tmp_path):
    result = snakemake("--lint", "--configfile", str(SMOKE), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_and_smoke_configs_plan_a_dag(tmp_path):
    for config in (ROOT / "config" / "config.yaml", SMOKE):
        result = snakemake("all", "-n", "--cores", "2", "--configfile", str(config), cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "train" in result.stdout and "table2" in result.stdout


def test_a_misspelled_config_key_stops_the_workflow_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMOKE.read_text() + "\nseeeds: [1]\n")
    result = snakemake("-n", "--cores", "1", "--configfile", str(bad), cwd=tmp_path)
    assert result.returncode != 0
    assert "unknown key 'seeeds' (did you mean 'seeds'?)" in result.stderr + result.stdout


# Three methods of the smoke configuration on both backbones: every stage and artefact rule of the
# main grid runs. The whole smoke configuration (every method) runs in .ci/run, which then checks
# its results against expected/smoke.json with `dice verify`.
SUBSET = ("none", "dice", "itempop")


@pytest.mark.slow
def test_the_smoke_configuration_runs_end_to_end_on_three_methods(tmp_path):
    subset = ("--config", f"methods=[{','.join(SUBSET)}]")
    result = snakemake("all", "--cores", "2", "--configfile", str(SMOKE), *subset, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results" / "smoke" / "tables" / "table2.csv")
    assert set(table["method"]) == set(SUBSET)
    assert set(table["backbone"]) == {"mf", "lightgcn"}
    runs = list((tmp_path / "results" / "runs").glob("*/*/*/*/*/seed0"))
    assert len(runs) == len(SUBSET) * 2
    for run in runs:
        for name in ("metrics.json", "topk.parquet", "run.json", "per_user.parquet", "model.pt"):
            assert (run / name).exists(), run / name
    # Nothing to do on a second invocation: finished jobs are not rerun.
    again = snakemake("all", "-n", "--cores", "2", "--configfile", str(SMOKE), *subset,
                      cwd=tmp_path)  # fmt: skip
    assert "Nothing to be done" in again.stdout + again.stderr


def test_an_artefact_without_its_study_fails_early_naming_the_study(tmp_path):
    target = "results/smoke/tables/table3_tiny.md"  # smoke.yaml defines no table3 study
    result = snakemake(target, "-n", "--cores", "1", "--configfile", str(SMOKE), cwd=tmp_path)
    assert result.returncode != 0
    assert "needs the study 'table3_negatives'" in result.stdout + result.stderr


def test_tsne_is_not_planned_without_a_dice_run(tmp_path):
    config = tmp_path / "nodice.yaml"
    config.write_text(
        "datasets: {tiny: {source: synthetic, preset: tiny}}\nbackbones: [mf]\n"
        "methods: [none]\nstudies: {fig5_iou: {methods: [itempop, none]}}\n"
    )
    result = snakemake("all", "-n", "--cores", "1", "--configfile", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fig5a_iou" in result.stdout and "fig5b_tsne" not in result.stdout


def test_report_of_what_exists_lists_what_is_missing(tmp_path):
    table = tmp_path / "results" / "smoke" / "tables" / "table1.html"
    table.parent.mkdir(parents=True)
    table.write_text("<table><tr><td>1</td></tr></table>")
    result = snakemake("--report", "report.html", "report_existing", "--configfile", str(SMOKE),
                       cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "report.html").stat().st_size > 0
    missing = next(line for line in result.stderr.splitlines() if "missing" in line)
    assert "table2.html" in missing and "table1.html" not in missing
