"""Fast vs faithful profile: test Recall@20 over seeds (docs/protocol.md#training-profiles).

Each (dataset, backbone, method, profile, seed) is trained to its early stop and tested with the
workflow's own stages (`dice.runs.train_run`, `dice.runs.evaluate_run`), into
``benchmarks/results/tmp/quality/``; finished runs are reused. The fast profile passes when its
mean test Recall@20 lies inside the faithful profile's 95 % seed interval (mean ± t₀.₉₇₅,ₙ₋₁ ·
s / √n); otherwise the report gives the difference. `gaps` pairs each seed's treatment run
with its control run (test Recall@20 of DICE − BPR, the difference DICE Table 2 reports) and
checks that every seed's gap of a profile lies inside the faithful gaps' 95 % interval;
`gap_markdown` renders that study (``python -m benchmarks.quality <results.json>``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from benchmarks.data import split_dir
from dice.config import run_settings
from dice.data import synthetic
from dice.io import read_json

METRIC = "recall@20"


def quality_runs(args, config: Mapping, *, root: Path, cache: Path) -> dict:
    """Train and test every run of the grid in `args`; the per-run values and the comparisons."""
    from dice.process import deterministic_kernels

    deterministic_kernels(args.device)  # as the command line's train stage
    runs, skipped = [], []
    for dataset in args.datasets:
        if dataset != "ml100k" and dataset not in synthetic.PRESETS and dataset != "ml10m-like":
            skipped.append(f"{dataset}: no such preset in dice.data.synthetic.PRESETS yet")
            continue
        folder = split_dir(dataset, config, root=root, cache=cache)
        for backbone in args.backbones:
            for method in args.methods:
                for profile in args.profiles:
                    for seed in args.seeds:
                        run = {"dataset": dataset, "backbone": backbone, "method": method,
                               "profile": profile, "seed": seed}  # fmt: skip
                        out = (
                            cache
                            / "quality"
                            / dataset
                            / backbone
                            / method
                            / profile
                            / f"seed{seed}"
                        )
                        runs.append(run | one_run(folder, config, run, out=out, device=args.device))
    return {"metric": f"test {METRIC}", "runs": runs, "comparisons": compare(runs),
            "gaps": gaps(runs), "skipped": skipped}  # fmt: skip


def one_run(folder: Path, config: Mapping, run: Mapping, *, out: Path, device: str) -> dict:
    """Train + evaluate one run (or read its finished metrics); the metric and the cost."""
    from dice.runs import evaluate_run, train_run

    settings = run_settings({**config, "profile": run["profile"]}, method=run["method"],
                            backbone=run["backbone"])  # fmt: skip
    if not (out / "metrics.json").exists():
        print(f"[quality] {dict(run)}", file=sys.stderr, flush=True)
        start, cpu = time.perf_counter(), time.process_time()
        info = train_run(folder, settings, seed=run["seed"], out=out, device=device, force=True)
        info["train_seconds_total"] = time.perf_counter() - start
        info["train_cpu_seconds"] = time.process_time() - cpu  # this process's CPU time
        (out / "cost.json").write_text(_json(info))
        evaluate_run(folder, settings, seed=run["seed"], run_dir=out, device=device)
    metrics, cost = read_json(out / "metrics.json"), read_json(out / "cost.json")
    return {"test": metrics["test"][METRIC], "test_all_users": metrics["test_all_users"][METRIC],
            "epochs": metrics["epochs"], "best_epoch": metrics["best_epoch"],
            "seconds_per_epoch": metrics["seconds_per_epoch"],
            "train_seconds_total": cost["train_seconds_total"],
            "train_cpu_seconds": cost.get("train_cpu_seconds")}  # fmt: skip


def _json(value) -> str:
    import json

    return json.dumps(value, indent=1, default=str)


def interval(values: Sequence[float]) -> dict:
    """Mean and the half-width of its 95 % Student-t interval over seeds."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"mean": float(x.mean()), "half_width": half, "n": n, "values": x.tolist()}


def compare(runs: Sequence[Mapping]) -> list[dict]:
    """Per (dataset, backbone, method): faithful interval, fast interval, and the verdict."""
    groups: dict[tuple, dict[str, list]] = {}
    for r in runs:
        key = (r["dataset"], r["backbone"], r["method"])
        groups.setdefault(key, {}).setdefault(r["profile"], []).append(r)
    rows = []
    for (dataset, backbone, method), by_profile in sorted(groups.items()):
        if not {"faithful", "fast"} <= set(by_profile):
            continue
        faithful = interval([r["test"] for r in by_profile["faithful"]])
        fast = interval([r["test"] for r in by_profile["fast"]])
        diff = fast["mean"] - faithful["mean"]
        cost = {p: float(np.mean([r["train_seconds_total"] for r in rs]))
                for p, rs in by_profile.items()}  # fmt: skip
        rows.append({"dataset": dataset, "backbone": backbone, "method": method,
                     "faithful": faithful, "fast": fast, "difference": diff,
                     "relative": diff / faithful["mean"] if faithful["mean"] else float("nan"),
                     "within": bool(abs(diff) <= faithful["half_width"]),
                     "train_seconds": cost,
                     "epochs": {p: [r["epochs"] for r in rs] for p, rs in by_profile.items()}})  # fmt: skip
    return rows


def gaps(
    runs: Sequence[Mapping],
    *,
    control: str = "none",
    reference: str = "faithful",
    treatment: str = "dice",
) -> list[dict]:
    """Per (dataset, backbone, profile, method ≠ control): the paired per-seed gaps
    test(method) − test(control) of the same profile and seed, their interval, and whether every
    seed's gap lies inside the 95 % interval of the `reference` profile's `treatment` gaps."""
    test = {(r["dataset"], r["backbone"], r["profile"], r["method"], r["seed"]): r for r in runs}
    cells: dict[tuple, dict[int, dict]] = {}
    for (dataset, backbone, profile, method, seed), r in test.items():
        base = test.get((dataset, backbone, profile, control, seed))
        if method != control and base is not None:
            cells.setdefault((dataset, backbone, profile, method), {})[seed] = {
                "gap": r["test"] - base["test"], "seconds": r["train_seconds_total"],
                "control_seconds": base["train_seconds_total"], "cpu": r.get("train_cpu_seconds"),
                "control_cpu": base.get("train_cpu_seconds")}  # fmt: skip
    rows = []
    for (dataset, backbone, profile, method), by_seed in sorted(cells.items()):
        seeds = sorted(by_seed)
        ref = cells.get((dataset, backbone, reference, treatment))
        ref_interval = interval([ref[s]["gap"] for s in sorted(ref)]) if ref else None
        low, high = _bounds(ref_interval)
        row = {"dataset": dataset, "backbone": backbone, "profile": profile, "method": method,
               "seeds": seeds, "gaps": interval([by_seed[s]["gap"] for s in seeds]),
               "reference": ref_interval,
               "within": [bool(low <= by_seed[s]["gap"] <= high) for s in seeds],
               "seconds": {k: float(np.mean([by_seed[s][k] for s in seeds]))
                           for k in ("seconds", "control_seconds")},
               "cpu_seconds": _mean_or_none([by_seed[s]["cpu"] for s in seeds]),
               "control_cpu_seconds": _mean_or_none([by_seed[s]["control_cpu"] for s in seeds])}  # fmt: skip
        row["all_within"] = bool(ref_interval) and all(row["within"])
        row["is_reference"] = (profile, method) == (reference, treatment)
        rows.append(row)
    return rows


def _bounds(ref: Mapping | None) -> tuple[float, float]:
    if not ref or not np.isfinite(ref["half_width"]):
        return math.nan, math.nan
    return ref["mean"] - ref["half_width"], ref["mean"] + ref["half_width"]


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def gap_markdown(quality: Mapping) -> str:
    """The gap study as a Markdown table: per-seed gaps, interval, verdict, training seconds."""
    lines = ["| dataset | backbone | profile | method | gap per seed | mean ± 95 % half-width | "
             "every seed inside the faithful interval | train wall s (method / BPR) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in quality.get("gaps", []):
        g, seconds = row["gaps"], row["seconds"]
        per_seed = ", ".join(f"{v:+.4f}" for v in g["values"])
        verdict = "(reference)" if row.get("is_reference") else (
            "yes" if row["all_within"] else "**no**")  # fmt: skip
        lines.append(f"| {row['dataset']} | {row['backbone']} | {row['profile']} | {row['method']} "
                     f"| {per_seed} | {g['mean']:+.4f} ± {g['half_width']:.4f} | {verdict} | "
                     f"{seconds['seconds']:.0f} / {seconds['control_seconds']:.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality",
                                     description="Print the DICE − BPR gap table of a quality "
                                     "results file as Markdown.")  # fmt: skip
    parser.add_argument("results", help="a benchmarks/results/<machine>.json written by "
                        "`python -m benchmarks.run quality`")  # fmt: skip
    args = parser.parse_args(argv)
    print(gap_markdown(read_json(Path(args.results))["quality"]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
