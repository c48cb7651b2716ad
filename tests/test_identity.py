"""A run's identity is its resolved settings: what reruns when a setting changes, and what not.

One tiny workflow (one backbone, three methods, one of them grid-searched, one epoch) runs once;
dry runs then show that each changed setting plans exactly the jobs it shapes, that the same
settings under another file name plan none, and that two configs' results live side by side.
The expected job counts are derived from the config (which sections shape which stage, and
`run_settings`), not from the plan under test.
"""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from dice.config import run_settings, validate_config
from dice.hpo import grid_points
from dice.plan import Plan, data_stage, identity, main_split
from tests.conftest import ROOT
from tests.test_workflow import snakemake

STAGE_RULES = ("prepare", "split", "train", "hpo_point", "hpo_select")
TINY = {
    "datasets": {"tiny": {"source": "synthetic", "preset": "tiny"}},
    "backbones": ["mf"],
    "methods": ["none", "ips-cnsr", "itempop"],
    "seeds": [0],
    "profile": "smoke",
    "train": {"max_epochs": 1},
    "profiles": {"smoke": {"batch_size": 256}},
    "hpo": {
        "seed": 0,
        "metric": "recall@50",
        "grids": {"ips-cnsr": {"ips_smoothing": [0.25, 0.5]}},
    },
}


def write(folder, name, raw) -> str:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def planned_jobs(config_path, cwd) -> dict[str, int]:
    """Rule → number of jobs `snakemake -n` plans (from its job-stats table)."""
    result = snakemake("all", "-n", "--configfile", config_path, cwd=cwd)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def expected_jobs(old: dict, new: dict) -> dict[str, int]:
    """The stage jobs a change from `old` to `new` must rerun, from what shapes each stage:
    data ← dataset entry, preprocess, split seed; split ← data, split section; a run or grid
    point ← split, its resolved settings (`run_settings`), its grid."""
    old, new = validate_config(old), validate_config(new)
    data = any(old[k] != new[k] for k in ("datasets", "preprocess")) or (
        old["split"]["seed"] != new["split"]["seed"]
    )
    split = data or old["split"] != new["split"]
    jobs = {"prepare": int(data), "split": int(split), "train": 0, "hpo_point": 0, "hpo_select": 0}
    for backbone in new["backbones"]:
        for method in new["methods"]:
            changed = split or run_settings(old, method=method, backbone=backbone) != run_settings(
                new, method=method, backbone=backbone
            )
            grid = grid_points(new, method)
            changed = changed or grid != grid_points(old, method)
            jobs["train"] += changed * len(new["seeds"])
            jobs["hpo_point"] += changed * len(grid)
            jobs["hpo_select"] += int(changed and bool(grid))
    return {rule: count for rule, count in jobs.items() if count}


def changed(**edits) -> dict:
    raw = copy.deepcopy(TINY)
    for path, value in edits.items():
        *parents, key = path.split("__")
        node = raw
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    return raw


CHANGES = {
    "split_seed": changed(split__seed=7),
    "min_count": changed(preprocess__min_count=5),
    "cap_mode": changed(split__cap_mode="probability"),
    "preset": changed(datasets={"tiny": {"source": "synthetic", "preset": "small"}}),
    "learning_rate": changed(train__lr=0.005),
}


def test_identity_is_a_content_hash_of_canonical_settings():
    config = validate_config(TINY)
    assert identity({"a": 1, "b": [1, 2]}) == identity({"b": [1, 2], "a": 1})
    assert identity({"a": 1}) != identity({"a": 1.5}) and len(identity({})) == 10
    # chained: a split's settings name its data's id, so new data means a new split folder
    other = validate_config(changed(preprocess__min_count=5))
    assert data_stage(config, "tiny").id != data_stage(other, "tiny").id
    assert main_split(config, "tiny").id != main_split(other, "tiny").id
    assert main_split(config, "tiny").dir.endswith("/tiny/cap0.9-share0.1")


def test_expected_jobs_follow_the_changed_sections():
    # the helper itself can tell changes apart (so the workflow checks below can fail)
    assert expected_jobs(TINY, TINY) == {}
    assert expected_jobs(TINY, CHANGES["cap_mode"])["split"] == 1
    assert "prepare" not in expected_jobs(TINY, CHANGES["cap_mode"])
    assert "split" not in expected_jobs(TINY, CHANGES["learning_rate"])


@pytest.mark.slow
def test_changes_rerun_exactly_the_affected_jobs_and_configs_coexist(tmp_path):
    base = write(tmp_path, "tiny", TINY)
    done = snakemake("all", "--cores", "2", "--configfile", base, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    plan = Plan(validate_config(TINY))
    runs = [tmp_path / "results" / "runs" / path for path in plan.runs]
    assert len(runs) == 3 and all((run / "metrics.json").exists() for run in runs)
    stamps = {run: (run / "metrics.json").stat().st_mtime_ns for run in runs}

    for name, raw in CHANGES.items():
        planned = planned_jobs(write(tmp_path, name, raw), tmp_path)
        stages = {rule: n for rule, n in planned.items() if rule in STAGE_RULES}
        assert stages == expected_jobs(TINY, raw), name

    # the same settings under another name: no stage job, only this config's own tables
    copy_path = write(tmp_path, "tiny-copy", TINY)
    assert not set(planned_jobs(copy_path, tmp_path)) & set(STAGE_RULES)
    again = snakemake("all", "--cores", "2", "--configfile", copy_path, cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    for config in ("tiny", "tiny-copy"):
        assert (tmp_path / "results" / config / "tables" / "table2.csv").exists()
    assert {run: (run / "metrics.json").stat().st_mtime_ns for run in runs} == stamps


def test_default_and_gpu_profiles_plan_without_cores(tmp_path):
    config = write(tmp_path, "tiny", TINY)
    for extra in ((), ("--profile", str(ROOT / "profiles" / "gpu"))):
        result = snakemake("all", "-n", "--configfile", config, *extra, cwd=tmp_path)
        text = result.stdout + result.stderr
        assert result.returncode == 0, text[-2000:]
        assert "profiles/default" in text and "train" in text


def test_dice_plan_prints_every_stage_and_its_folder(tmp_path, capsys):
    from dice.cli import main

    config = write(tmp_path, "tiny", TINY)
    assert main(["plan", "--config", config]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    kinds = [kind for kind, _, _ in lines]
    # 1 data set, 1 split, 1 grid search (ips-cnsr on mf), 3 methods x 1 backbone x 1 seed
    assert [kinds.count(k) for k in ("data", "splits", "hpo", "runs")] == [1, 1, 1, 3]
    for kind, name, folder in lines:
        assert folder.startswith(f"results/{kind}/") and folder.endswith(f"/{name}")
        assert re.fullmatch(r"[0-9a-f]{10}", folder.split("/")[2])
    assert ["runs", "tiny/cap0.9-share0.1/mf/itempop/seed0"] in [line[:2] for line in lines]
    assert main(["plan", "--config", config, "nothing"]) == 2
