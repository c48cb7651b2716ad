"""Benchmark harness: epoch, sampling, evaluation and memory per backbone × method × profile.

Usage (from the repository root; each command merges its cells into
``benchmarks/results/<machine>.json`` and rewrites ``<machine>.md`` and the scaling plot):

    python -m benchmarks.run speed --datasets ml100k ml10m-like --profiles faithful fast
    python -m benchmarks.run scaling --scales 0.1 0.3 1 3 --methods none dice
    python -m benchmarks.run quality --datasets ml100k --seeds 0 1 2
    python -m benchmarks.run generation --datasets ml10m-like --seeds 0 1 2
    python -m benchmarks.run report          # re-render the Markdown and the plot

The methods of one (dataset, backbone, profile) run in one fresh Python process (``group``
subcommand), their epochs interleaved so that a busy machine slows them alike and the ratios
hold; each method's peak resident memory comes from a short run of it alone in its own process.
``--in-process`` skips both subprocesses (smoke tests). Not part of the CI test run.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import report
from benchmarks.data import source_of, split_dir
from benchmarks.measure import VARIANT_PARTS, machine_info, measure_group, variant_parts
from dice.config import load_config
from dice.io import write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("none", "ips-cn", "cause", "dice", "dice-l1")


#: Per-command defaults of the grid options (speed: the issue's grid; scaling: MF and DICE).
DEFAULTS = {
    "speed": {"datasets": ["ml100k", "ml10m-like"], "backbones": ["mf", "lightgcn"],
              "methods": list(METHODS), "profiles": ["faithful", "fast"]},
    "scaling": {"datasets": ["ml10m-like"], "backbones": ["mf"], "methods": ["none", "dice"],
                "profiles": ["fast"]},
    "quality": {"datasets": ["ml100k", "ml100k-like"], "backbones": ["mf"],
                "methods": ["none", "dice"], "profiles": ["faithful", "fast"]},
    "generation": {"datasets": ["ml10m-like"]},
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for key, value in DEFAULTS.get(args.command, {}).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.command == "group":  # internal: one subprocess per (split, backbone, profile)
        cells = [{"method": m, "backbone": args.backbone, "profile": args.profile,
                  "variant": args.variant} for m in args.methods]  # fmt: skip
        results = measure_group(Path(args.split), load_config(args.config), cells,
                                **_options(args))  # fmt: skip
        print(json.dumps(results))
        return 0
    out, config = Path(args.out), load_config(args.config)
    name = args.machine or machine_slug(machine_info())
    if args.command == "quality":
        from benchmarks.quality import quality_runs

        results = _load(out, name)
        results["quality"] = quality_runs(args, config, root=ROOT, cache=out / "tmp")
        return _write(results, out, name)
    if args.command == "generation":  # the simulator's presets, one generation per seed
        from benchmarks.generation import measure_generation

        rows = [measure_generation(preset, seeds=args.seeds) for preset in args.datasets]
        return _merge(out, name, rows, section="generation")
    if args.command == "speed":
        cells = _grid(args, config, out, scales=[args.scale])
        return _merge(out, name, cells, section="cells")
    if args.command == "scaling":
        cells = _grid(args, config, out, scales=args.scales)
        return _merge(out, name, cells, section="scaling")
    return _write(_load(out, name), out, name)


def _grid(args, config, out: Path, *, scales) -> list[dict]:
    """Every (dataset, scale, backbone, profile) group: its methods timed together, interleaved;
    then, unless --no-memory, a short run of each method alone for its peak memory."""
    cells = []
    for dataset in args.datasets:
        for scale in scales:
            folder = split_dir(dataset, config, root=ROOT, cache=out / "tmp", scale=scale)
            for backbone in args.backbones:
                for profile in args.profiles:
                    group = {"dataset": dataset, "scale": scale, "backbone": backbone,
                             "profile": profile, "device": args.device, "variant": args.variant,
                             "source": source_of(dataset)}  # fmt: skip
                    print(f"[benchmarks] {group} {args.methods}", file=sys.stderr, flush=True)
                    results = _run_group(args, config, folder, backbone, profile, args.methods)
                    for method, result in zip(args.methods, results or [], strict=True):
                        cell = group | {"method": method} | result | {"peak_rss_scope": "group"}
                        if args.memory and not args.in_process:
                            cell |= _memory_probe(args, config, folder, backbone, profile, method)
                        cells.append(cell)
                        print(f"[benchmarks]   {method}: epoch {cell['seconds']:.2f} s (sampling "
                              f"{cell['seconds_sampling']:.2f}), eval {cell['evaluation_seconds']:.2f}"
                              f" s, peak {cell['peak_rss_mib']:.0f} MiB", file=sys.stderr)  # fmt: skip
    return cells


def _options(args) -> dict:
    return {"epochs": args.epochs, "warmup": args.warmup, "max_steps": args.max_steps,
            "device": args.device, "eval_repeats": args.eval_repeats,
            "sync_phases": args.sync_phases}  # fmt: skip


def _memory_probe(args, config, folder: Path, backbone: str, profile: str, method: str) -> dict:
    """Peak memory of `method` alone: one sampled epoch, a few steps, one evaluation."""
    probe = argparse.Namespace(**{**vars(args), "epochs": 1, "warmup": 0, "max_steps": 3,
                                  "eval_repeats": 1})  # fmt: skip
    (result,) = _run_group(probe, config, folder, backbone, profile, [method]) or [{}]
    keys = ("peak_rss_mib", "cuda_peak_mib")
    return (
        {k: result[k] for k in keys if k in result} | {"peak_rss_scope": "cell"} if result else {}
    )


def _run_group(args, config, folder: Path, backbone: str, profile: str, methods) -> list | None:
    cells = [{"method": m, "backbone": backbone, "profile": profile, "variant": args.variant}
             for m in methods]  # fmt: skip
    if args.in_process:
        return measure_group(folder, config, cells, **_options(args))
    command = [sys.executable, "-m", "benchmarks.run", "group", "--split", str(folder),
               "--config", str(args.config), "--methods", *methods, "--backbone", backbone,
               "--profile", profile, "--epochs", str(args.epochs), "--warmup", str(args.warmup),
               "--device", args.device, "--eval-repeats", str(args.eval_repeats),
               "--variant", args.variant]  # fmt: skip
    command += ["--max-steps", str(args.max_steps)] if args.max_steps else []
    command += ["--threads", str(args.threads)] if args.threads else []
    command += ["--sync-phases"] if args.sync_phases else []
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              timeout=args.timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        print(f"[benchmarks]   timed out after {args.timeout} s", file=sys.stderr)
        return None
    if done.returncode != 0:
        print(f"[benchmarks]   failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load(out: Path, name: str) -> dict:
    path = out / f"{name}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    return {"name": name, "cells": [], "scaling": [], "generation": [], **results}


def _merge(out: Path, name: str, cells: list[dict], *, section: str) -> int:
    results = _load(out, name)
    key = report.generation_key if section == "generation" else report.cell_key
    fresh = {key(c) for c in cells}
    results[section] = [c for c in results[section] if key(c) not in fresh] + cells
    return _write(results, out, name)


def _write(results: dict, out: Path, name: str) -> int:
    results["machine"] = machine_info()
    results["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results["targets"] = report.targets(results["cells"]) + report.generation_targets(
        results["generation"]
    )
    plot = None
    if results.get("scaling"):
        plot = f"{name}-scaling.png"
        report.scaling_plot(results["scaling"], out / plot)
    write_json(out / f"{name}.json", results)
    write_text(out / f"{name}.md", report.markdown(results, plot=plot))
    print(f"[benchmarks] wrote {out / name}.json and .md", file=sys.stderr)
    return 0


def machine_slug(info: dict) -> str:
    """A file name for this machine: CPU model and core count (plus the GPU, if any)."""
    cpu = re.sub(r"\((r|tm)\)|cpu|processor|@.*", "", info["cpu_model"].lower())
    parts = [re.sub(r"[^a-z0-9]+", "-", cpu).strip("-"), f"{info['cpu_count']}c"]
    if info.get("cuda"):
        parts.append(re.sub(r"[^a-z0-9]+", "-", info["cuda"].lower()).strip("-"))
    return "-".join(p for p in parts if p)


def _variant(text: str) -> str:
    try:
        variant_parts(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument(
        "command", choices=("speed", "scaling", "quality", "generation", "report", "group")
    )
    for option in ("datasets", "backbones", "methods", "profiles"):
        parser.add_argument(f"--{option}", nargs="+", default=None, help="see DEFAULTS")
    parser.add_argument("--scale", type=float, default=1.0, help="synthetic size multiplier")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.1, 0.3, 1.0, 3.0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs first")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="time at most this many steps per epoch and scale up")  # fmt: skip
    parser.add_argument("--eval-repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variant", default="default", type=_variant,
                        help=f"'default' or '+'-joined proposals of {VARIANT_PARTS}")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--sync-phases", action="store_true",
                        help="CUDA: synchronise around each phase for an exact split")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--machine", default=None, help="results file name (default: CPU slug)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--in-process", action="store_true", help="no subprocess per cell")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per cell")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip the per-method memory runs (peak is then the group's)")  # fmt: skip
    parser.add_argument("--split", help="(group) split folder")
    parser.add_argument("--backbone", help="(group) backbone")
    parser.add_argument("--profile", help="(group) training profile")
    return parser


if __name__ == "__main__":
    sys.exit(main())
