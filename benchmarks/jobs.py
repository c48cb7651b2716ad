"""Time and peak memory of the jobs of one config's finished workflow run, by kind of job.

Every rule of the workflow has a ``benchmark:`` line, so Snakemake leaves one file per job with
its wall seconds. Snakemake also samples CPU time and resident memory, but every 30 s after a
job's first 15 s, so it can miss a peak; ``python -m dice`` therefore ends each job's log with a
``resources:`` line, its own exact CPU seconds and peak resident memory (``getrusage``), which is
used where present. This reads the files of exactly the jobs a config plans (`dice.plan.Plan`: its data, splits, grid points, grid
selections and runs, and everything under its own ``results/<config>/benchmarks/``), groups them
by rule, dataset and backbone, and writes a Markdown table and the JSON behind it:

    python -m benchmarks.jobs --config config/rehearsal.yaml --wall-s 2400 \
        --out benchmarks/results/amd-epyc-2c-rehearsal-jobs

``--wall-s`` is the measured wall time of the whole ``snakemake`` call, put beside the sums.
A planned job without a benchmark file (its output came from elsewhere) is counted as missing.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path

from dice.config import load_config
from dice.io import write_json, write_text
from dice.plan import RESULTS, Plan, report_dir

FIELDS = {"wall_s": "s", "cpu_s": "cpu_time", "rss_mib": "max_rss"}  # ours: Snakemake's column


RESOURCES = re.compile(r"^resources: cpu_s=([0-9.]+) peak_rss_mib=([0-9.]+)$", re.MULTILINE)


def read_job(benchmark: Path, log: Path) -> dict:
    """A job's wall seconds (Snakemake's), CPU seconds and peak memory (the log's, else
    Snakemake's samples), and which of the two gave the last two."""
    measured = read_benchmark(benchmark) | {"source": "sampled"}
    found = RESOURCES.findall(log.read_text()) if log.exists() else []
    if found:
        cpu, rss = found[-1]
        measured |= {"cpu_s": float(cpu), "rss_mib": float(rss), "source": "log"}
    return measured


def read_benchmark(path: Path) -> dict:
    """One Snakemake benchmark file (a header and one row per repeat; the first row is kept)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: empty benchmark file")
    return {ours: _number(rows[0].get(theirs)) for ours, theirs in FIELDS.items()}


def _number(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None  # Snakemake writes NA where it could not measure


def planned_files(config_path: Path, root: Path) -> list[tuple[dict, Path, Path]]:
    """(group, benchmark file, log file) for every job of the config's plan: group is rule,
    dataset, backbone (the last two empty where they do not apply)."""
    plan = Plan(load_config(config_path))
    kinds = [("prepare", "prepare", plan.data, "", None), ("split", "split", plan.splits, "", None),
             ("hpo_point", "hpo", plan.points, "", 3), ("hpo_select", "hpo", plan.searches, ".select", 3),
             ("train", "train", plan.runs, "", 3)]  # fmt: skip
    jobs = []
    for rule, folder, paths, suffix, backbone_at in kinds:
        for p in paths:
            bench, log = (
                root / RESULTS / kind / folder / f"{p}{suffix}" for kind in ("benchmarks", "logs")
            )
            jobs.append((_group(rule, p, backbone_at), bench.with_name(bench.name + ".tsv"),
                         log.with_name(log.name + ".log")))  # fmt: skip
    own = root / report_dir(config_path)
    for f in sorted((own / "benchmarks").glob("*.tsv")):
        rule, dataset = _artefact(f.stem, plan.config["datasets"])
        group = {"rule": rule, "dataset": dataset, "backbone": ""}
        jobs.append((group, f, own / "logs" / f"{f.stem}.log"))
    return jobs


def _artefact(stem: str, datasets) -> tuple[str, str]:
    """``fig4_bias_ml10m_like`` → (``fig4_bias``, ``ml10m_like``); ``table2`` → (``table2``, "")."""
    for dataset in sorted(datasets, key=len, reverse=True):
        if stem.endswith(f"_{dataset}"):
            return stem[: -len(dataset) - 1], dataset
    return stem, ""


def _group(rule: str, path: str, backbone_at: int | None = None) -> dict:
    """``<id>/<dataset>/<split>/<backbone>/...`` → rule, dataset, backbone."""
    parts = path.split("/")
    backbone = parts[backbone_at] if backbone_at is not None else ""
    return {"rule": rule, "dataset": parts[1], "backbone": backbone}


def summarise(jobs: Iterable[tuple[dict, Path, Path]]) -> list[dict]:
    """One row per group: jobs, missing, wall seconds (sum, median, max), CPU seconds (sum),
    the largest peak resident memory, and how many jobs' CPU and memory were only sampled."""
    groups: dict[tuple, list[dict | None]] = {}
    for group, benchmark, log in jobs:
        key = (group["rule"], group["dataset"], group["backbone"])
        groups.setdefault(key, []).append(read_job(benchmark, log) if benchmark.exists() else None)
    rows = []
    for (rule, dataset, backbone), found in groups.items():
        measured = [m for m in found if m is not None]
        wall = [m["wall_s"] for m in measured if m["wall_s"] is not None]
        cpu = [m["cpu_s"] for m in measured if m["cpu_s"] is not None]
        rss = [m["rss_mib"] for m in measured if m["rss_mib"] is not None]
        rows.append({"rule": rule, "dataset": dataset, "backbone": backbone,
                     "jobs": len(found), "missing": len(found) - len(measured),
                     "wall_s_sum": round(sum(wall), 1),
                     "wall_s_median": round(statistics.median(wall), 1) if wall else None,
                     "wall_s_max": round(max(wall), 1) if wall else None,
                     "cpu_s_sum": round(sum(cpu), 1),
                     "peak_rss_mib": round(max(rss)) if rss else None,
                     "sampled": sum(m["source"] == "sampled" for m in measured)})  # fmt: skip
    return rows


def markdown(rows: list[dict], *, wall_s: float | None, cores: int) -> str:
    """The table, with totals and the whole call's wall time when given."""
    head = (
        "| rule | dataset | backbone | jobs | wall s (sum / median / max) | CPU s | peak memory |"
    )
    lines = [head, "|---|---|---|---:|---|---:|---:|"]
    for r in rows:
        wall = f"{r['wall_s_sum']:.0f} / {r['wall_s_median']} / {r['wall_s_max']}"
        wall = wall if r["wall_s_median"] is not None else "–"
        rss = f"{r['peak_rss_mib'] / 1024:.2f} GiB" if r["peak_rss_mib"] is not None else "–"
        missing = f" ({r['missing']} missing)" if r["missing"] else ""
        rss += f" ({r['sampled']} sampled)" if r["sampled"] else ""
        lines.append(f"| {r['rule']} | {r['dataset'] or '–'} | {r['backbone'] or '–'} | "
                     f"{r['jobs']}{missing} | {wall} | {r['cpu_s_sum']:.0f} | {rss} |")  # fmt: skip
    jobs = sum(r["jobs"] for r in rows)
    wall_sum = sum(r["wall_s_sum"] for r in rows)
    cpu = sum(r["cpu_s_sum"] for r in rows)
    lines.append(f"| **all** | | | {jobs} | {wall_sum:.0f} | {cpu:.0f} | |")
    total = f"Sum of the jobs' wall seconds {wall_sum:.0f} s, over {cores} cores {wall_sum / cores:.0f} s"
    if wall_s is not None:
        total += f"; the whole `snakemake` call took {wall_s:.0f} s ({wall_s / 60:.1f} min)"
    note = ("CPU s and peak memory are each job's own (`getrusage`, from the `resources:` line of "
            "its log); where a row says `(n sampled)`, n jobs had no such line and their values are "
            "Snakemake's samples, lower bounds.")  # fmt: skip
    return "\n".join(lines) + "\n\n" + total + ".\n\n" + note + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.jobs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path("."), help="the workflow's directory")
    parser.add_argument("--wall-s", type=float, help="wall time of the whole snakemake call")
    parser.add_argument("--cores", type=int, default=2, help="the call's --cores")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json (else print)")
    args = parser.parse_args(argv)
    rows = summarise(planned_files(args.config, args.root))
    text = markdown(rows, wall_s=args.wall_s, cores=args.cores)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    record = {"config": str(args.config), "wall_s": args.wall_s, "cores": args.cores, "rows": rows}
    write_json(args.out.with_suffix(".json"), record)
    write_text(args.out.with_suffix(".md"), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
