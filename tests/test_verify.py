"""`dice record` / `dice verify` / `dice verify-paper` on result files the tests write.

The run folders hold hand-made metrics.json and run.json files (training is exercised by
test_determinism.py, which records and verifies real runs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import dice.cli
from dice.config import load_config
from dice.errors import DiceError
from dice.io import read_json, write_json
from dice.paper import verify_paper
from dice.plan import all_runs, run_dir
from dice.verify import (
    DEFAULT_TOLERANCES,
    band,
    flatten_metrics,
    load_tolerances,
    record,
    run_name,
    verify,
)

LIBRARIES = {"torch": "2.13.0", "numpy": "2.4.6"}


@pytest.fixture
def main(monkeypatch):
    """`dice.cli.main` with this feature's subcommands (dice.cli_verify) registered."""
    if "dice.cli_verify" not in dice.cli.EXTENSIONS:
        monkeypatch.setattr(dice.cli, "EXTENSIONS", (*dice.cli.EXTENSIONS, "dice.cli_verify"))
    return dice.cli.main


def write_config(
    folder: Path, name: str = "mini", *, seeds=(0, 1), methods=("none", "dice")
) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "datasets": {"tiny": {"source": "synthetic", "preset": "tiny"}},
        "backbones": ["mf"], "methods": list(methods), "seeds": list(seeds),
        "train": {"max_epochs": 2},
    }))  # fmt: skip
    return path


def metrics_for(run: dict, shift: float = 0.0) -> dict:
    """A metrics.json whose values depend on the run (DICE higher, seeds slightly apart)."""
    base = 0.20 + (0.05 if run["method"] == "dice" else 0.0) + 0.001 * run["seed"] + shift
    block = {f"{m}@{k}": round(base * (1 + (k == 50)) * f, 6)
             for m, f in (("recall", 1.0), ("hr", 2.0), ("ndcg", 0.5)) for k in (20, 50)}  # fmt: skip
    out = {part: dict(block) for part in ("valid", "valid_all_users", "test", "test_all_users")}
    out |= {"best_epoch": 1, "epochs": 2, "stopped": "max_epochs",
            "seconds_per_epoch": 0.5 + shift, "peak_memory_mib": 300.0}  # fmt: skip
    if run["method"] == "dice":
        out["scoring"] = {"interest": {"test": dict(block)}}
    return out


def write_results(config_path: Path, results: Path, *, torch_version="2.13.0") -> list[dict]:
    runs = all_runs(load_config(config_path))
    for run in runs:
        folder = Path(run_dir(run, root=str(results)))
        write_json(folder / "metrics.json", metrics_for(run))
        write_json(folder / "run.json", {
            "context": run, "seed": run["seed"], "device": "cpu", "torch_threads": 1,
            "python": "3.11.7", "libraries": {**LIBRARIES, "torch": torch_version},
        })  # fmt: skip
    return runs


def edit_metric(results: Path, run: dict, path: tuple[str, ...], delta: float) -> None:
    file = Path(run_dir(run, root=str(results))) / "metrics.json"
    metrics = read_json(file)
    holder = metrics
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] += delta
    write_json(file, metrics)


@pytest.fixture
def recorded(tmp_path, main):
    """A config with four finished runs and its expected file (recorded through the CLI)."""
    config, results = write_config(tmp_path), tmp_path / "runs"
    runs = write_results(config, results)
    expected = tmp_path / "expected" / "mini.json"
    argv = ["record", "--config", str(config), "--results", str(results), "--out", str(expected)]
    assert main(argv) == 0
    return config, results, expected, runs


def test_flatten_metrics_keeps_numbers_by_path_and_drops_timing():
    flat = flatten_metrics({"test": {"recall@20": 0.5}, "best_epoch": 3, "stopped": "x",
                            "seconds_per_epoch": 1.0, "scoring": {"interest": {"test": {"hr@20": 1}}}})  # fmt: skip
    assert flat == {"test/recall@20": 0.5, "best_epoch": 3, "scoring/interest/test/hr@20": 1}


def test_tolerance_band_is_abs_plus_rel_times_expected(tmp_path):
    assert band("test/recall@20", DEFAULT_TOLERANCES, 0.2) == pytest.approx(0.005 + 0.02 * 0.2)
    assert band("valid/hr@50", DEFAULT_TOLERANCES, 0.5) == pytest.approx(0.01 + 0.02 * 0.5)
    assert band("best_epoch", DEFAULT_TOLERANCES, 7) == 1
    assert band("something/else", DEFAULT_TOLERANCES, 1.0) == 0.0
    user = tmp_path / "tol.yaml"
    user.write_text("'*recall@*': {abs: 0.5}\n")
    tolerances = load_tolerances(user)
    assert band("test/recall@20", tolerances, 0.2) == 0.5  # the user's band wins
    assert band("test/ndcg@20", tolerances, 0.2) == pytest.approx(0.005 + 0.02 * 0.2)
    user.write_text("'*recall@*': 0.5\n")
    with pytest.raises(DiceError, match=r"must map to \{abs: x, rel: y\}"):
        load_tolerances(user)


def test_the_expected_file_holds_metrics_seed_versions_and_device(recorded):
    config, results, expected, runs = recorded
    doc = read_json(expected)
    assert doc["config"]["name"] == "mini" and set(doc["machine"]) >= {"cpu", "machine"}
    entry = doc["runs"]["tiny/cap0.9-share0.1/mf/dice/seed1"]
    assert entry["seed"] == 1 and entry["device"] == "cpu" and entry["libraries"] == LIBRARIES
    assert entry["metrics"]["test/recall@20"] == pytest.approx(0.251)
    assert "seconds_per_epoch" not in entry["metrics"] and len(doc["runs"]) == len(runs) == 4


def test_verify_passes_on_an_unchanged_rerun(recorded, main, capsys):
    config, results, expected, runs = recorded
    for run in runs:  # a rerun: the timing differs, every metric is identical
        edit_metric(results, run, ("seconds_per_epoch",), 0.25)
    report = expected.parent / "report.md"
    argv = ["verify", "--config", str(config), "--results", str(results), "--expected",
            str(expected), "--report", str(report)]  # fmt: skip
    assert main(argv) == 0
    assert "all 4 runs reproduce" in capsys.readouterr().out
    assert "all 4 runs reproduce" in report.read_text()


def test_a_perturbed_result_fails_and_names_run_and_metric(recorded, main, capsys):
    config, results, expected, runs = recorded
    edit_metric(results, runs[1], ("test", "recall@20"), 1e-12)  # exact mode: any change counts
    argv = [
        "verify",
        "--config",
        str(config),
        "--results",
        str(results),
        "--expected",
        str(expected),
    ]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    name = run_name(runs[1])
    assert f"| {name} | test/recall@20 |" in out and "REGRESSION" in out and "exact" in out
    assert err.count("\n") == 1 and re.search(
        rf"{name} moved \(test/recall@20 \+1\.0*\d*e-12\)", err
    )


def test_on_other_library_versions_the_tolerance_band_applies(recorded):
    config, results, expected, runs = recorded
    write_results(config, results, torch_version="2.14.0")  # same metrics, other torch
    edit_metric(results, runs[0], ("test", "recall@20"), 0.001)  # inside 0.005 + 0.02 * 0.2
    edit_metric(results, runs[2], ("test_all_users", "ndcg@50"), -0.1)  # outside
    report = verify(config, expected, results=results)
    assert set(report.modes.values()) == {"tolerance"}
    assert [(m.run, m.metric, m.ok) for m in report.moved] == [
        (run_name(runs[0]), "test/recall@20", True),
        (run_name(runs[2]), "test_all_users/ndcg@50", False),
    ]
    assert (
        not report.ok
        and f"{run_name(runs[2])} moved (test_all_users/ndcg@50 -0.1)" in report.summary()
    )
    assert (
        verify(config, expected, results=results, mode="exact").regressions[0].metric
        == "test/recall@20"
    )


def test_a_missing_run_is_reported_by_name(recorded, main, capsys):
    config, results, expected, runs = recorded
    (Path(run_dir(runs[3], root=str(results))) / "metrics.json").unlink()
    argv = [
        "verify",
        "--config",
        str(config),
        "--results",
        str(results),
        "--expected",
        str(expected),
    ]
    assert main(argv) == 2
    assert f"missing run {run_name(runs[3])}" in capsys.readouterr().err


def test_an_extra_run_is_reported_by_name(recorded, tmp_path):
    config, results, expected, _ = recorded
    write_config(tmp_path, seeds=(0, 1, 2))  # same name, one more seed
    write_results(config, results)
    report = verify(config, expected, results=results)
    assert report.extra == [
        "tiny/cap0.9-share0.1/mf/none/seed2",
        "tiny/cap0.9-share0.1/mf/dice/seed2",
    ]
    assert "extra run tiny/cap0.9-share0.1/mf/none/seed2" in report.summary()


def test_an_expected_file_of_another_config_fails(recorded, tmp_path, main, capsys):
    _, results, expected, _ = recorded
    other = write_config(tmp_path, name="other", methods=("none", "ips"))
    write_results(other, results)
    argv = [
        "verify",
        "--config",
        str(other),
        "--results",
        str(results),
        "--expected",
        str(expected),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "was recorded for config 'mini', not 'other'" in err
    assert "missing run tiny/cap0.9-share0.1/mf/dice/seed0 (not in the config)" in err
    assert "extra run tiny/cap0.9-share0.1/mf/ips/seed0" in err


def test_record_needs_every_run_finished_and_never_overwrites_silently(recorded, main, capsys):
    config, results, expected, runs = recorded
    argv = ["record", "--config", str(config), "--results", str(results), "--out", str(expected)]
    assert main(argv) == 2 and "pass --force" in capsys.readouterr().err
    (Path(run_dir(runs[0], root=str(results))) / "run.json").unlink()
    with pytest.raises(DiceError, match=f"1 runs have no results yet: {run_name(runs[0])}"):
        record(config, results=results)


def test_a_broken_expected_file_is_a_one_line_error(tmp_path, recorded):
    config, results, _, _ = recorded
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DiceError, match="not valid JSON"):
        verify(config, bad, results=results)
    bad.write_text(json.dumps({"runs": {}}))
    with pytest.raises(DiceError, match="not an expected-results file of format 1"):
        verify(config, bad, results=results)


# --- against the paper -------------------------------------------------------------------------


def write_paper(folder: Path) -> Path:
    """A paper table in dice/paper_results.yaml's shape: dataset key → paper name → cells."""
    cells = {"recall@20": 0.21, "hr@20": 0.42, "ndcg@20": 0.105,
             "recall@50": 0.42, "hr@50": 0.84, "ndcg@50": 0.21}  # fmt: skip
    doc = {"datasets": {"tiny": "Toy"},
           "table2": {"Toy": {"mf": {"none": cells, "dice": {k: 2 * v for k, v in cells.items()}},
                              "lightgcn": {"none": cells}}}}  # fmt: skip
    path = folder / "paper.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_verify_paper_compares_every_cell_and_checks_the_claims(tmp_path, main):
    config, results = write_config(tmp_path), tmp_path / "runs"
    write_results(config, results)
    check = verify_paper(config, paper=write_paper(tmp_path), results=results)
    cells = check.cells.set_index(["backbone", "method", "metric", "k"])
    # ours: none = 0.2005 (mean of seeds 0.200, 0.201), paper 0.21 → gap -4.5 %: within 10 %
    assert cells.loc[("mf", "none", "recall", 20), "mean"] == pytest.approx(0.2005)
    assert cells.loc[("mf", "none", "recall", 20), "status"] == "within"
    # dice = 0.2505 vs paper 0.42 → gap -40 %: outside
    assert cells.loc[("mf", "dice", "recall", 20), "status"] == "outside"
    assert (cells.loc["lightgcn", "status"] == "missing").all()
    # DICE 0.2505 ± t(0.975, 1)·0.000707 = ±0.00635 vs none 0.2005 ± 0.00635: apart on all 6
    claims = check.claims.to_dict("records")
    assert claims == [{"dataset": "tiny", "backbone": "mf", "baseline": "none", "holds": 6,
                       "metrics": 6, "status": "holds"}]  # fmt: skip
    assert not check.ok
    assert check.summary() == (
        "verify-paper: 6/18 Table 2 cells within ±10% of the paper (6 without results); "
        "1/1 claims 'DICE beats the baseline' hold"
    )
    report = tmp_path / "paper.md"
    argv = ["verify-paper", "--config", str(config), "--paper", str(tmp_path / "paper.yaml"),
            "--results", str(results), "--report", str(report)]  # fmt: skip
    assert main(argv) == 0  # a report, not a gate, unless --strict
    row = next(
        line for line in report.read_text().splitlines() if "holds " in line and "| tiny" in line
    )
    assert [c.strip() for c in row.strip("|").split("|")] == [
        "tiny",
        "mf",
        "none",
        "6",
        "6",
        "holds",
    ]
    assert main([*argv, "--strict"]) == 2


@pytest.mark.parametrize(
    ("shifts", "holds", "status"),
    [
        # DICE seed 0 at recall@20 0.05: mean 0.1505 < none's 0.2005 → behind → fails
        ({"recall@20": -0.2}, 5, "fails"),
        # DICE seed 0 at hr@20 0.40: mean 0.451 > 0.401 but the interval is ±0.65 → unproven
        ({"hr@20": -0.1}, 5, "unproven"),
        ({"recall@20": -0.2, "hr@20": -0.1}, 4, "fails"),
    ],
)
def test_a_claim_fails_when_dice_is_behind_and_is_unproven_when_intervals_overlap(
    tmp_path, shifts, holds, status
):
    config, results = write_config(tmp_path), tmp_path / "runs"
    runs = write_results(config, results)
    dice0 = next(r for r in runs if r["method"] == "dice" and r["seed"] == 0)
    for metric, delta in shifts.items():
        edit_metric(results, dice0, ("test_all_users", metric), delta)
    claim = verify_paper(config, paper=write_paper(tmp_path), results=results).claims.iloc[0]
    assert (claim["holds"], claim["status"]) == (holds, status)


def test_verify_paper_gap_is_the_table2_comparison(tmp_path):
    config, results = write_config(tmp_path), tmp_path / "runs"
    write_results(config, results)
    cells = verify_paper(config, paper=write_paper(tmp_path), results=results).cells
    mf = cells[cells["backbone"] == "mf"].set_index(["method", "metric", "k"])
    assert mf.loc[("none", "recall", 20), "gap"] == pytest.approx(0.2005 / 0.21 - 1)
    assert mf.loc[("dice", "ndcg", 50), "paper"] == pytest.approx(0.42)


# --- tolerance bands on another CPU --------------------------------------------------------------

DISENTANGLEMENT = {"users": 300, "interest_rank_corr": 0.4123456, "full_rank_corr": 0.3812345,
                   "interest_conformity_rank_corr": -0.0213456, "counterfactual_recall@20": 0.1534567,
                   "counterfactual_ndcg@20": 0.0912345}  # fmt: skip


def scale_all(results: Path, runs: list[dict], factor: float) -> None:
    """Every float of every metrics.json times `factor` (integers untouched)."""

    def scaled(node):
        if isinstance(node, dict):
            return {k: scaled(v) for k, v in node.items()}
        return node * factor if isinstance(node, float) else node

    for run in runs:
        file = Path(run_dir(run, root=str(results))) / "metrics.json"
        write_json(file, scaled(read_json(file)))


@pytest.fixture
def synthetic_recorded(tmp_path):
    """Runs with disentanglement scores, recorded as if on another CPU (machine differs)."""
    config, results = write_config(tmp_path), tmp_path / "runs"
    runs = write_results(config, results)
    for run in runs:
        file = Path(run_dir(run, root=str(results))) / "metrics.json"
        write_json(file, {**read_json(file), "disentanglement": dict(DISENTANGLEMENT)})
    doc = record(config, results=results)
    doc["machine"] = {**doc["machine"], "cpu": "Some Other CPU @ 2.0GHz", "cpu_capability": "AVX2"}
    expected = tmp_path / "expected.json"
    write_json(expected, doc)
    return config, results, expected, runs


def test_rounding_level_changes_pass_on_another_cpu(synthetic_recorded):
    config, results, expected, runs = synthetic_recorded
    scale_all(results, runs, 1 + 1e-7)  # float32 rounding is ~6e-8 relative per operation
    report = verify(config, expected, results=results)
    assert set(report.modes.values()) == {"tolerance"}  # another CPU: bands, not equality
    assert report.ok, report.summary()
    moved = {m.metric for m in report.moved}
    assert "disentanglement/interest_rank_corr" in moved and "test/recall@20" in moved


def test_a_real_change_of_a_rank_correlation_fails_on_another_cpu(synthetic_recorded):
    config, results, expected, runs = synthetic_recorded
    edit_metric(results, runs[0], ("disentanglement", "interest_rank_corr"), 1e-2)
    report = verify(config, expected, results=results)
    # band: 0.005 + 0.02 × 0.4123 = 0.01325 … so 1e-2 is inside; 2e-2 is a real change
    assert report.ok
    edit_metric(results, runs[0], ("disentanglement", "interest_rank_corr"), 1e-2)
    report = verify(config, expected, results=results)
    assert [m.metric for m in report.regressions] == ["disentanglement/interest_rank_corr"]


def test_a_real_change_of_accuracy_fails_on_another_cpu(synthetic_recorded):
    config, results, expected, runs = synthetic_recorded
    scale_all(results, runs[:1], 1 - 1e-1)  # recall@20 0.2 → 0.18: beyond 0.005 + 0.02 × 0.2
    report = verify(config, expected, results=results)
    assert not report.ok and "test/recall@20" in {m.metric for m in report.regressions}


def test_exact_mode_stays_exact_at_rounding_level(synthetic_recorded):
    config, results, expected, runs = synthetic_recorded
    scale_all(results, runs, 1 + 1e-7)
    report = verify(config, expected, results=results, mode="exact")
    assert not report.ok and all(m.allowed == 0.0 for m in report.moved)


def test_integer_counts_stay_exact_in_tolerance_mode(synthetic_recorded):
    config, results, expected, runs = synthetic_recorded
    edit_metric(results, runs[0], ("disentanglement", "users"), 1)
    report = verify(config, expected, results=results)
    assert [m.metric for m in report.regressions] == ["disentanglement/users"]
    assert band("disentanglement/full_rank_corr", DEFAULT_TOLERANCES, 0.5) == pytest.approx(0.015)
