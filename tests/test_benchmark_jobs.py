"""benchmarks/jobs.py: the per-kind time and memory of a config's jobs, from Snakemake's
benchmark files; and every rule of the workflow leaves such a file."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.jobs import RESOURCES, main, markdown, planned_files, read_benchmark, summarise

CONFIG = Path("config/rehearsal.yaml")
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _write(path: Path, wall: float, rss: float, cpu: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        HEADER + f"{wall}\t0:00:{int(wall):02d}\t{rss}\tNA\tNA\tNA\tNA\tNA\tNA\t{cpu}\n"
    )


def test_every_rule_of_the_workflow_writes_a_benchmark_file():
    for smk in sorted(Path("workflow/rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule )", smk.read_text())[1:]:
            name = block.split(":", 1)[0]
            if name == "rule all":
                continue
            assert "    benchmark:\n" in block, f"{smk}: {name} has no benchmark line"


def test_jobs_are_grouped_by_rule_dataset_and_backbone_and_missing_ones_counted(tmp_path):
    jobs = planned_files(CONFIG, tmp_path)
    trains = [(f, log) for g, f, log in jobs if (g["rule"], g["dataset"], g["backbone"]) == ("train", "netflix_like", "lightgcn")]  # fmt: skip
    _write(trains[0][0], 10.0, 1024.0, 5.0)  # sampled only
    _write(trains[1][0], 20.0, 2048.0, 10.0)
    trains[1][1].parent.mkdir(parents=True, exist_ok=True)  # the job's own numbers win
    trains[1][1].write_text("INFO started\nresources: cpu_s=18.5 peak_rss_mib=3072\n")
    own = tmp_path / "results" / "rehearsal" / "benchmarks" / "table2.tsv"
    _write(own, 3.0, 300.0, 2.5)
    rows = {(r["rule"], r["dataset"], r["backbone"]): r for r in summarise(planned_files(CONFIG, tmp_path))}  # fmt: skip
    row = rows["train", "netflix_like", "lightgcn"]
    assert row["jobs"] == len(trains) and row["missing"] == len(trains) - 2
    assert (row["wall_s_sum"], row["wall_s_median"], row["wall_s_max"]) == (30.0, 15.0, 20.0)
    assert (row["cpu_s_sum"], row["peak_rss_mib"], row["sampled"]) == (23.5, 3072, 1)
    assert rows["table2", "", ""]["jobs"] == 1
    assert {"prepare", "split", "hpo_point", "hpo_select"} <= {r[0] for r in rows}
    text = markdown(list(rows.values()), wall_s=120.0, cores=2)
    assert f"| train | netflix_like | lightgcn | {len(trains)} ({len(trains) - 2} missing) | 30 / 15.0 / 20.0 | 24 | 3.00 GiB (1 sampled) |" in text  # fmt: skip
    assert "took 120 s (2.0 min)" in text


def test_the_command_writes_markdown_and_json(tmp_path):
    jobs = planned_files(CONFIG, tmp_path)
    _write(next(f for g, f, _ in jobs if g["rule"] == "prepare"), 14.0, 512.0, 13.0)
    out = tmp_path / "out" / "jobs"
    out.parent.mkdir()
    assert main(["--config", str(CONFIG), "--root", str(tmp_path), "--wall-s", "60", "--out", str(out)]) == 0  # fmt: skip
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["wall_s"] == 60 and sum(r["jobs"] - r["missing"] for r in record["rows"]) == 1
    assert "| prepare |" in out.with_suffix(".md").read_text()


def test_an_empty_benchmark_file_is_named_in_the_error(tmp_path):
    empty = tmp_path / "x.tsv"
    empty.write_text(HEADER)
    with pytest.raises(ValueError, match="x.tsv: empty benchmark file"):
        read_benchmark(empty)


def test_a_job_run_as_python_m_dice_ends_its_log_with_its_resources(tmp_path):
    log = tmp_path / "plan.log"
    with open(log, "w") as stderr:
        done = subprocess.run([sys.executable, "-m", "dice", "plan", "--config", str(CONFIG)],
                              stdout=subprocess.DEVNULL, stderr=stderr, check=False)  # fmt: skip
    assert done.returncode == 0
    cpu, rss = RESOURCES.findall(log.read_text())[-1]
    assert float(cpu) > 0 and float(rss) > 50  # a Python process with the package imported


def test_an_artefact_file_is_split_into_rule_and_dataset(tmp_path):
    own = tmp_path / "results" / "rehearsal" / "benchmarks"
    _write(own / "fig4_bias_ml10m_like.tsv", 11.0, 400.0, 8.0)
    _write(own / "table1.tsv", 5.0, 380.0, 4.0)
    groups = {(g["rule"], g["dataset"]) for g, f, _ in planned_files(CONFIG, tmp_path) if f.parent == own}  # fmt: skip
    assert groups == {("fig4_bias", "ml10m_like"), ("table1", "")}
