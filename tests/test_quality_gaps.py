"""The paired DICE − BPR gap study of `benchmarks.quality`: per-seed gaps, the faithful interval,
the per-seed verdict and its Markdown table (values computed by hand)."""

from __future__ import annotations

import pytest

from benchmarks.quality import gap_markdown, gaps

#: test Recall@20 per (profile, method, seed); faithful gaps 0.01, 0.02, 0.03 and fast gaps
#: 0.00, 0.05, -0.01.
TESTS = {("faithful", "none"): [0.10, 0.20, 0.30], ("faithful", "dice"): [0.11, 0.22, 0.33],
         ("fast", "none"): [0.15, 0.10, 0.20], ("fast", "dice"): [0.15, 0.15, 0.19]}  # fmt: skip


def _runs(tests=TESTS) -> list[dict]:
    return [{"dataset": "d", "backbone": "mf", "profile": profile, "method": method, "seed": seed,
             "test": value, "train_seconds_total": 10.0 + seed, "train_cpu_seconds": None}
            for (profile, method), values in tests.items()
            for seed, value in enumerate(values)]  # fmt: skip


def test_gaps_pair_seeds_and_check_each_against_the_faithful_interval() -> None:
    rows = {row["profile"]: row for row in gaps(_runs())}
    assert set(rows) == {"faithful", "fast"}  # the control is never a treatment
    faithful, fast = rows["faithful"], rows["fast"]
    assert faithful["gaps"]["values"] == pytest.approx([0.01, 0.02, 0.03])
    # mean 0.02, s = 0.01, t(0.975, 2) = 4.302653: half-width 4.302653 * 0.01 / sqrt(3)
    assert faithful["gaps"]["mean"] == pytest.approx(0.02)
    assert faithful["gaps"]["half_width"] == pytest.approx(0.0248414, abs=1e-6)
    assert fast["reference"]["mean"] == pytest.approx(0.02)
    assert fast["gaps"]["values"] == pytest.approx([0.0, 0.05, -0.01])
    assert fast["within"] == [True, False, False] and not fast["all_within"]
    assert faithful["all_within"]  # the reference's own gaps lie inside their interval here
    assert faithful["is_reference"] and not fast["is_reference"]
    assert fast["seconds"] == {
        "seconds": pytest.approx(11.0),
        "control_seconds": pytest.approx(11.0),
    }
    assert fast["cpu_seconds"] is None


def test_a_profile_inside_the_interval_passes_and_missing_pairs_are_left_out() -> None:
    tests = dict(TESTS) | {("fast", "dice"): [0.16, 0.12, 0.21]}  # gaps 0.01, 0.02, 0.01
    runs = [r for r in _runs(tests) if not (r["profile"] == "fast" and r["seed"] == 2
                                           and r["method"] == "none")]  # fmt: skip
    fast = next(row for row in gaps(runs) if row["profile"] == "fast")
    assert fast["seeds"] == [0, 1] and fast["all_within"]
    text = gap_markdown({"gaps": gaps(runs)})
    assert "| d | mf | fast | dice | +0.0100, +0.0200 | +0.0150 ± " in text
    assert (
        "| d | mf | faithful | dice | +0.0100, +0.0200, +0.0300 | +0.0200 ± 0.0248 | (reference)"
        in text
    )


def test_without_a_reference_nothing_passes() -> None:
    runs = [r for r in _runs() if r["profile"] == "fast"]
    (fast,) = gaps(runs)
    assert fast["reference"] is None and not fast["all_within"]
