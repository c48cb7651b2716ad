"""Fast vs faithful profile: test Recall@20 over seeds (docs/protocol.md#training-profiles).

Each (dataset, backbone, method, profile, seed) is trained to its early stop and tested with the
workflow's own stages (`dice.runs.train_run`, `dice.runs.evaluate_run`), into
``benchmarks/results/tmp/quality/``; finished runs are reused. The fast profile passes when its
mean test Recall@20 lies inside the faithful profile's 95 % seed interval (mean ± t₀.₉₇₅,ₙ₋₁ ·
s / √n); otherwise the report gives the difference.
"""

from __future__ import annotations

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
            "skipped": skipped}  # fmt: skip


def one_run(folder: Path, config: Mapping, run: Mapping, *, out: Path, device: str) -> dict:
    """Train + evaluate one run (or read its finished metrics); the metric and the cost."""
    from dice.runs import evaluate_run, train_run

    settings = run_settings({**config, "profile": run["profile"]}, method=run["method"],
                            backbone=run["backbone"])  # fmt: skip
    if not (out / "metrics.json").exists():
        print(f"[quality] {dict(run)}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        info = train_run(folder, settings, seed=run["seed"], out=out, device=device, force=True)
        info["train_seconds_total"] = time.perf_counter() - start
        (out / "cost.json").write_text(_json(info))
        evaluate_run(folder, settings, seed=run["seed"], run_dir=out, device=device)
    metrics, cost = read_json(out / "metrics.json"), read_json(out / "cost.json")
    return {"test": metrics["test"][METRIC], "test_all_users": metrics["test_all_users"][METRIC],
            "epochs": metrics["epochs"], "best_epoch": metrics["best_epoch"],
            "seconds_per_epoch": metrics["seconds_per_epoch"],
            "train_seconds_total": cost["train_seconds_total"]}  # fmt: skip


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
