"""The benchmark harness: a smoke invocation, the target rules, the seed interval, the generator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmarks import report
from benchmarks.data import MIN_CLICKS, power_law_interactions
from benchmarks.quality import compare, interval
from benchmarks.run import machine_slug, main

SMOKE = ["--datasets", "tiny", "--backbones", "mf", "--methods", "none", "dice",
         "--profiles", "fast", "--epochs", "1", "--warmup", "0", "--max-steps", "1",
         "--eval-repeats", "1", "--in-process", "--machine", "smoke"]  # fmt: skip


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple:
    out = tmp_path_factory.mktemp("bench")
    assert main(["speed", *SMOKE, "--out", str(out)]) == 0
    return out, json.loads((out / "smoke.json").read_text())


def test_smoke_writes_cells_targets_and_markdown(smoke) -> None:
    out, results = smoke
    cells = {(c["backbone"], c["method"]): c for c in results["cells"]}
    assert set(cells) == {("mf", "none"), ("mf", "dice")}
    for cell in cells.values():
        assert cell["steps_timed"] == 1 <= cell["steps"]
        assert cell["seconds"] == pytest.approx(cell["seconds_sampling"] + cell["seconds_steps"])
        assert 0 < cell["sampling_share"] < 1 and cell["peak_rss_mib"] > 0
        assert sum(cell["phase_share"].values()) == pytest.approx(1.0)
    assert results["machine"]["torch"] == torch.__version__
    assert any(t["target"].startswith("epoch / BPR epoch (dice)") for t in results["targets"])
    text = (out / "smoke.md").read_text()
    assert "| tiny | 1 | mf | dice | fast | default |" in text and "## Targets" in text


def test_a_rerun_replaces_its_cells(smoke) -> None:
    out, _ = smoke
    assert main(["speed", *SMOKE, "--methods", "none", "--out", str(out)]) == 0
    results = json.loads((out / "smoke.json").read_text())
    assert sorted(c["method"] for c in results["cells"]) == ["dice", "none"]


def _cell(method: str, seconds: float, *, dataset="ml10m-like", backbone="mf", **extra) -> dict:
    return {"dataset": dataset, "scale": 1.0, "backbone": backbone, "method": method,
            "profile": "fast", "device": "cpu", "threads": 2, "seconds": seconds, "cpu_seconds": seconds,
            "sampling_share": 0.05, "evaluation_seconds": 1.0, "peak_rss_mib": 1000.0, **extra}  # fmt: skip


def test_targets_are_ratios_to_bpr_and_absolute_limits() -> None:
    # BPR 4 s; DICE 6 s → 1.5 (at most 1.5: pass); DICE-L1 5 s → 1.25 (> 1.2: fail)
    rows = report.targets([_cell("none", 4.0), _cell("dice", 6.0), _cell("dice-l1", 5.0),
                           _cell("dice", 100.0, backbone="lightgcn", sampling_share=0.2)])  # fmt: skip
    verdict = {(r["target"], r["where"]): r["pass"] for r in rows}
    value = {(r["target"], r["where"]): r["value"] for r in rows}
    assert value[("epoch / BPR epoch (dice)", "ml10m-like mf dice fast t2")] == 1.5
    assert value[("epoch / BPR epoch (dice-l1)", "ml10m-like mf dice-l1 fast t2")] == 1.25
    # per cell: sampling share; on ml10m-like fast: epoch (3 of 4 cells have a limit), MF
    # evaluation (3 cells) and memory (4 cells); ratios: dice and dice-l1 on MF = 4+3+3+4+2
    assert len(rows) == 16
    assert verdict[("epoch / BPR epoch (dice)", "ml10m-like mf dice fast t2")]
    assert not verdict[("epoch / BPR epoch (dice-l1)", "ml10m-like mf dice-l1 fast t2")]
    # no BPR cell on LightGCN: no ratio; 100 s > 90 s and 20 % sampling fail
    assert ("epoch / BPR epoch (dice)", "ml10m-like lightgcn dice fast t2") not in verdict
    assert not verdict[("epoch seconds", "ml10m-like lightgcn dice fast t2")]
    assert not verdict[("sampling share of epoch", "ml10m-like lightgcn dice fast t2")]
    assert verdict[("epoch seconds", "ml10m-like mf none fast t2")]  # 4 s < 10 s


def test_seed_interval_by_hand() -> None:
    # values 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.302653 → half-width 4.302653 / √3
    got = interval([1.0, 2.0, 3.0])
    assert got["mean"] == 2.0 and got["half_width"] == pytest.approx(4.302653 / 3**0.5, rel=1e-6)
    runs = [{"dataset": "d", "backbone": "mf", "method": "none", "profile": p, "test": v,
             "train_seconds_total": 1.0, "epochs": 5}
            for p, vals in (("faithful", (1.0, 2.0, 3.0)), ("fast", (5.0, 5.0, 5.0))) for v in vals]  # fmt: skip
    (row,) = compare(runs)
    # faithful mean 2, fast mean 5 (s = 0, half-width 0): 3 > 4.302653 / √3 ≈ 2.484 → outside
    assert (row["faithful"]["mean"], row["fast"]["mean"]) == (2.0, 5.0)
    assert row["fast"]["half_width"] == 0.0
    assert row["difference"] == 3.0 and row["relative"] == 1.5 and row["within"] is False
    assert row["train_seconds"] == {"faithful": 1.0, "fast": 1.0}
    assert row["epochs"] == {"faithful": [5, 5, 5], "fast": [5, 5, 5]}
    assert np.isnan(interval([4.0])["half_width"])  # one seed: no interval


def test_power_law_generator_is_distinct_and_sized() -> None:
    inter = power_law_interactions(n_users=300, n_items=1000, interactions=9000,
                                   rng=np.random.default_rng(0))  # fmt: skip
    assert len(np.unique(inter.keys())) == len(inter)  # no repeated (user, item)
    assert np.bincount(inter.user, minlength=300).min() >= MIN_CLICKS
    assert 9000 - 300 < len(inter) <= 9000  # flooring loses < 1 click per user (no cap hit)
    counts = np.sort(inter.item_counts())[::-1]
    assert counts[:20].sum() > 2 * counts[-20:].sum()  # popularity is skewed


def test_machine_slug() -> None:
    info = {"cpu_model": "Intel(R) Xeon(R) Platinum 8488C @ 2.4GHz", "cpu_count": 2, "cuda": None}
    assert machine_slug(info) == "intel-xeon-platinum-8488c-2c"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_cell(tmp_path) -> None:
    assert main(["speed", *SMOKE, "--device", "cuda", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "smoke.json").read_text())
    assert {c["device"] for c in results["cells"]} == {"cuda"}
    assert all(c["cuda_peak_mib"] > 0 for c in results["cells"])


def test_variants_are_known_proposals_joined_by_plus() -> None:
    from benchmarks.measure import variant_parts

    assert variant_parts("default") == set()
    assert variant_parts("dis128+fused-adam") == {"dis128", "fused-adam"}
    with pytest.raises(ValueError, match="unknown variant"):
        variant_parts("fused-adam+sparse")


def test_generation_target_is_judged_on_median_cpu_seconds() -> None:
    rows = report.generation_targets([{"preset": "ml10m-like", "cpu_seconds": 29.5},
                                      {"preset": "tiny", "cpu_seconds": 99.0}])  # fmt: skip
    assert rows == [{"target": "generation CPU seconds", "where": "ml10m-like", "value": 29.5,
                     "limit": 30.0, "pass": True}]  # fmt: skip
    (slow,) = report.generation_targets([{"preset": "ml10m-like", "cpu_seconds": 30.0}])
    assert slow["pass"] is False  # strictly under the limit


def test_generation_command_records_each_preset_once(tmp_path) -> None:
    argv = ["generation", "--datasets", "tiny", "--seeds", "0", "1", "--machine", "gen",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0 and main(argv) == 0  # a rerun replaces its row
    (row,) = json.loads((tmp_path / "gen.json").read_text())["generation"]
    assert (row["preset"], row["users"], row["items"], row["seeds"]) == ("tiny", 300, 200, [0, 1])
    assert len(row["cpu_seconds_all"]) == 2 and row["cpu_seconds"] > 0
    assert row["cpu_seconds"] == pytest.approx(sum(row["cpu_seconds_all"]) / 2)  # median of 2
    assert "## Simulator generation" in (tmp_path / "gen.md").read_text()
