"""DICE's discrepancy row budget (`train.discrepancy_rows` of a profile): speed and quality.

``speed``: seconds per optimiser step of MF-BPR and of MF-DICE at each row budget, on a split
folder (e.g. the rehearsal's ml10m-like main split), with the fast profile and the step cap
(`train.max_steps_per_epoch`): every method trains `--steps` steps per epoch for `--repeats`
epochs, round robin so load changes hit them alike; the epoch estimate is the measured negative
sampling plus the full epoch's step count times the median seconds per step.

``quality``: test Recall@20 of MF-DICE, fast profile, trained to early stopping (or for
`--max-epochs`) on ML-100K (or the split folder `--split`) for each row budget and seed, with the
workflow's own stages (`benchmarks.quality.one_run`).

Both print JSON to stdout. `--rows 0` stands for null (the exact dCor over all rows).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "results" / "tmp"


def _config(rows: list[int], *, steps: int | None = None, epochs: int | None = None) -> dict:
    """config/config.yaml with one profile ``fast-rows<r>`` per budget (the fast profile plus
    that budget, the step cap and the epoch cap)."""
    from dice.config import load_config
    from dice.settings import PROFILES

    config = copy.deepcopy(load_config(ROOT / "config" / "config.yaml"))
    for r in rows:
        values = {**config["train"], **PROFILES["fast"], "discrepancy_rows": r or None}
        if steps is not None:
            values["max_steps_per_epoch"] = steps
        if epochs is not None:
            values["max_epochs"] = epochs
        config["profiles"][f"fast-rows{r}"] = values
    return config


def _trainer(split, config: dict, method: str, profile: str):
    from dice.config import parse_run_settings, run_settings
    from dice.registry import build_model
    from dice.seeding import torch_generator
    from dice.train import Trainer

    settings = run_settings({**config, "profile": profile}, method=method, backbone="mf")
    _, model_config, train_config = parse_run_settings(json.loads(json.dumps(settings)))
    model = build_model(model_config, split, generator=torch_generator(0, "init"))
    return Trainer(model, split, config=train_config, seed=0, progress=False)


def speed(args) -> dict:
    import torch

    from dice.data.interactions import Split

    torch.set_num_threads(1)
    split = Split.load(Path(args.split))
    config = _config(args.rows, steps=args.steps)
    cells = {"bpr": ("none", f"fast-rows{args.rows[0]}")}
    cells |= {f"dice-rows{r}": ("dice", f"fast-rows{r}") for r in args.rows}
    trainers = {name: _trainer(split, config, *cell) for name, cell in cells.items()}
    per_step = {name: [] for name in cells}
    sampling = {name: [] for name in cells}
    for _ in range(args.repeats):
        for name, trainer in trainers.items():
            trainer.run_epoch()
            h = trainer.state.history[-1]
            phases = sum(
                h[f"seconds_{p}"] for p in ("batching", "forward", "backward", "optimizer")
            )
            per_step[name].append(phases / args.steps)
            sampling[name].append(h["seconds_sampling"])
    n = len(split.train_normal) + len(split.train_intervened)
    steps_per_epoch = -(-n // config["profiles"][f"fast-rows{args.rows[0]}"]["batch_size"])
    result = {"split": args.split, "steps_timed": args.steps, "repeats": args.repeats,
              "steps_per_epoch": steps_per_epoch, "cells": {}}  # fmt: skip
    for name in cells:
        step, sample = float(np.median(per_step[name])), float(np.median(sampling[name]))
        result["cells"][name] = {"seconds_per_step": step, "seconds_per_step_all": per_step[name],
                                 "seconds_sampling": sample,
                                 "epoch_estimate_s": sample + steps_per_epoch * step}  # fmt: skip
    bpr = result["cells"]["bpr"]["epoch_estimate_s"]
    for cell in result["cells"].values():
        cell["epoch_vs_bpr"] = cell["epoch_estimate_s"] / bpr
    return result


def quality(args) -> dict:
    from benchmarks.data import split_dir
    from benchmarks.quality import interval, one_run

    config = _config(args.rows, epochs=args.max_epochs)
    folder = Path(args.split) if args.split else split_dir("ml100k", config, root=ROOT, cache=CACHE)
    dataset = folder.parent.name if args.split else "ml100k"
    result = {"dataset": dataset, "method": "dice", "backbone": "mf", "metric": "test recall@20",
              "split": str(folder), "max_epochs": args.max_epochs, "budgets": {}}  # fmt: skip
    cap = f"-e{args.max_epochs}" if args.max_epochs else ""
    for r in args.rows:
        runs = []
        for seed in args.seeds:
            run = {"dataset": dataset, "backbone": "mf", "method": "dice",
                   "profile": f"fast-rows{r}", "seed": seed}  # fmt: skip
            out = CACHE / "rows" / f"{dataset}{cap}" / f"rows{r}" / f"seed{seed}"
            runs.append(one_run(folder, config, run, out=out, device="cpu") | {"seed": seed})
        result["budgets"][str(r)] = {"runs": runs, "test": interval([x["test"] for x in runs])}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rows", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("command", choices=("speed", "quality"))
    parser.add_argument("--rows", type=int, nargs="+", default=[0, 128],
                        help="row budgets (0 = exact); the first also sets BPR's profile")  # fmt: skip
    parser.add_argument("--split", help="split folder (speed: required; quality: default the "
                        "workflow's ML-100K split)")  # fmt: skip
    parser.add_argument("--max-epochs", type=int, help="(quality) train at most this many epochs "
                        "(default: to early stopping)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=20, help="(speed) steps timed per epoch")
    parser.add_argument("--repeats", type=int, default=3, help="(speed) epochs per method")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(quality)")
    args = parser.parse_args(argv)
    if args.command == "speed" and not args.split:
        parser.error("speed needs --split")
    start = time.perf_counter()
    result = speed(args) if args.command == "speed" else quality(args)
    result["wall_seconds"] = time.perf_counter() - start
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
