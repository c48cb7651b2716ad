"""Targets, the Markdown report and the scaling plot, all pure functions of the results JSON.

Targets (docs/benchmarks.md says what they measure), checked on scale-1 cells:
- DICE (dCor) epoch <= 1.5 × the BPR (`none`) epoch on the same dataset, backbone, profile;
  DICE with L1/L2 <= 1.2 ×; ratios, so the machine's speed cancels out;
- negative sampling < 10 % of the epoch, every cell;
- ml10m-like, fast profile: MF and DICE-MF epochs < 10 s, LightGCN-DICE < 90 s, a full-ranking
  evaluation of all users < 5 s (MF cells), peak resident memory < 4 GiB (every cell).
The faithful profile's optimiser share of the step time is reported, not judged.
Generation (`benchmarks.generation`): the simulator's ml10m-like preset in < 30 CPU seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

RATIO_LIMITS = {"dice": 1.5, "dice-l1": 1.2, "dice-l2": 1.2}
SAMPLING_LIMIT = 0.10
BIG = "ml10m-like"
EPOCH_LIMITS = {("mf", "none"): 10.0, ("mf", "dice"): 10.0, ("lightgcn", "dice"): 90.0}
EVAL_LIMIT, MEMORY_LIMIT_MIB = 5.0, 4 * 1024.0
KEY = ("dataset", "scale", "backbone", "method", "profile", "device", "threads", "variant")
GENERATION_LIMITS = {"ml10m-like": 30.0}  # median process-CPU seconds per generation


def cell_key(cell: Mapping) -> tuple:
    return tuple(cell.get(k) for k in KEY)


def targets(cells: Sequence[Mapping]) -> list[dict]:
    """One row per checked target: what, where, measured value, limit, pass."""
    rows: list[dict] = []
    base = [c for c in cells if c.get("scale", 1.0) == 1.0]
    index = {cell_key(c): c for c in base}
    for cell in base:
        variant = "" if cell.get("variant", "default") == "default" else f" [{cell['variant']}]"
        where = (f"{cell['dataset']} {cell['backbone']} {cell['method']} {cell['profile']} "
                 f"t{cell['threads']}{variant}")  # fmt: skip
        # BPR under the same variant (dis128 does not change BPR: its cell is the one without)
        bpr = index.get(cell_key({**cell, "method": "none"})) or index.get(
            cell_key({**cell, "method": "none", "variant": _without_dis(cell.get("variant"))})
        )
        if cell["method"] in RATIO_LIMITS and bpr is not None:
            ratio = cell["seconds"] / bpr["seconds"]
            cpu = cell["cpu_seconds"] / bpr["cpu_seconds"]  # CPU time: robust to a busy machine
            row = _row(f"epoch / BPR epoch ({cell['method']})", where, ratio,
                       RATIO_LIMITS[cell["method"]], at_most=True)  # fmt: skip
            rows.append(row | {"cpu_value": cpu})
        rows.append(_row("sampling share of epoch", where, cell["sampling_share"], SAMPLING_LIMIT))
        if cell["dataset"] != BIG or cell["profile"] != "fast":
            continue
        limit = EPOCH_LIMITS.get((cell["backbone"], cell["method"]))
        if limit is not None:
            rows.append(_row("epoch seconds", where, cell["seconds"], limit))
        if cell["backbone"] == "mf":
            rows.append(_row("full-ranking evaluation seconds", where, cell["evaluation_seconds"],
                             EVAL_LIMIT))  # fmt: skip
        rows.append(_row("peak resident MiB", where, cell["peak_rss_mib"], MEMORY_LIMIT_MIB))
    return rows


def generation_key(row: Mapping) -> tuple:
    return (row["preset"],)


def generation_targets(rows: Sequence[Mapping]) -> list[dict]:
    """Median CPU seconds of generating a preset, for the presets with a limit."""
    return [_row("generation CPU seconds", r["preset"], r["cpu_seconds"], GENERATION_LIMITS[r["preset"]])
            for r in rows if r["preset"] in GENERATION_LIMITS]  # fmt: skip


def _without_dis(variant: str | None) -> str | None:
    if variant is None:
        return None
    return "+".join(p for p in variant.split("+") if p != "dis128") or "default"


def _row(target: str, where: str, value: float, limit: float, *, at_most: bool = False) -> dict:
    """A target row: `value` < `limit` ("under"), or <= with `at_most` ("at most")."""
    ok = value <= limit if at_most else value < limit
    return {"target": target, "where": where, "value": value, "limit": limit, "pass": bool(ok)}


def markdown(results: Mapping, *, plot: str | None = None) -> str:
    """The report: machine, per-cell table, targets, scaling and quality sections."""
    m = results["machine"]
    lines = [f"# Benchmarks: {results['name']}", "",
             f"CPU {m['cpu_model']}, {m['cpu_count']} cores (affinity {m['cpu_affinity']}), "
             f"{m['memory_gib']} GiB; torch {m['torch']}, numpy {m['numpy']}; torch threads "
             f"{m['torch_threads']} (interop {m['torch_interop_threads']}), env {m['thread_env']}; "
             f"CUDA: {m['cuda']}. Load average when written: {m['load_average']}.", "",
             "Epoch = negative sampling + optimiser steps (no validation), median of the timed "
             "epochs after warm-up; `steps timed` < `steps` means the steps were timed on a random "
             "subset of batches and scaled. Step split = batching / forward / backward / optimiser "
             "shares of the step time. Eval = one full-ranking evaluation of all users.", ""]  # fmt: skip
    lines += _cell_table(results["cells"])
    lines += [
        "",
        "## Targets",
        "",
        "Ratios are of wall seconds; `cpu` is the same ratio of process CPU seconds, which a "
        "busy machine disturbs less.",
        "",
        "| target | where | measured | limit | pass |",
        "|---|---|---|---|---|",
    ]
    for t in results.get("targets", []):
        cpu = f" (cpu {t['cpu_value']:.3g})" if "cpu_value" in t else ""
        lines.append(f"| {t['target']} | {t['where']} | {t['value']:.3g}{cpu} | {t['limit']:g} | "
                     f"{'yes' if t['pass'] else '**no**'} |")  # fmt: skip
    if results.get("scaling"):
        lines += ["", "## Scaling (synthetic generator)", ""]
        lines += _cell_table(results["scaling"])
        if plot:
            lines += ["", f"![scaling]({plot})"]
    if results.get("generation"):
        lines += ["", "## Simulator generation (median over seeds)", "",
                  "| preset | users | items | rows | seeds | wall s | CPU s |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r['preset']} | {r['users']} | {r['items']} | {r['rows'][0]} | "
                  f"{len(r['seeds'])} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} |"
                  for r in sorted(results["generation"], key=generation_key)]  # fmt: skip
    if results.get("quality"):
        lines += ["", "## Fast vs faithful quality (test Recall@20, mean ± 95 % t-interval)", ""]
        lines += quality_table(results["quality"])
    if results.get("quality", {}).get("gaps"):
        from benchmarks.quality import gap_markdown

        lines += ["", "## DICE − BPR gap per seed (test Recall@20, paired by seed)", ""]
        lines += gap_markdown(results["quality"]).splitlines()
    return "\n".join(lines) + "\n"


def _cell_table(cells: Sequence[Mapping]) -> list[str]:
    head = ("| dataset | × | backbone | method | profile | variant | dev/thr | batch | epoch s | sampling | "
            "steps timed/steps | ms/step | step split b/f/b/o % | eval s | peak MiB |")  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in sorted(cells, key=cell_key):
        split = "/".join(f"{100 * c['phase_share'][p]:.0f}" for p in ("batching", "forward",
                                                                       "backward", "optimizer"))  # fmt: skip
        lines.append(
            f"| {c['dataset']} | {c['scale']:g} | {c['backbone']} | {c['method']} | {c['profile']} | "
            f"{c.get('variant', 'default')} | "
            f"{c['device']}/{c['threads']} | {c['batch_size']} | {c['seconds']:.2f} | "
            f"{100 * c['sampling_share']:.1f} % | {c['steps_timed']}/{c['steps']} | "
            f"{c['ms_per_step']:.2f} | {split} | {c['evaluation_seconds']:.2f} | {c['peak_rss_mib']:.0f} |"
        )
    return lines


def quality_table(quality: Mapping) -> list[str]:
    lines = ["| dataset | method | faithful | fast | fast − faithful | fast within interval |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for row in quality.get("comparisons", []):
        f, s = row["faithful"], row["fast"]
        lines.append(f"| {row['dataset']} | {row['method']} | {f['mean']:.4f} ± {f['half_width']:.4f} "
                     f"(n={f['n']}) | {s['mean']:.4f} ± {s['half_width']:.4f} (n={s['n']}) | "
                     f"{row['difference']:+.4f} ({row['relative']:+.1%}) | "
                     f"{'yes' if row['within'] else '**no**'} |")  # fmt: skip
    return lines


def scaling_plot(cells: Sequence[Mapping], path: Path) -> None:
    """Epoch seconds and peak memory against training interactions, log-log (one line per run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    groups: dict[tuple, list] = {}
    for c in cells:
        key = (c["backbone"], c["method"], c["profile"], c["threads"], c.get("variant", "default"))
        groups.setdefault(key, []).append(c)
    for (backbone, method, profile, threads, variant), group in sorted(groups.items()):
        group.sort(key=lambda c: c["dataset_shape"]["train"])
        x = [c["dataset_shape"]["train"] for c in group]
        label = f"{backbone}-{method} {profile} t{threads} {variant}"
        left.plot(x, [c["seconds"] for c in group], "o-", label=label)
        right.plot(x, [c["peak_rss_mib"] for c in group], "o-", label=label)
        if len(x) > 1:  # linear reference through the smallest point
            left.plot(x, [group[0]["seconds"] * v / x[0] for v in x], ":", color="grey")
    for ax, title in ((left, "seconds per epoch (dotted: linear)"), (right, "peak resident MiB")):
        ax.set(xscale="log", yscale="log", xlabel="training interactions", title=title)
        ax.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
