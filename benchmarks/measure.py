"""One benchmark cell: a (split, backbone, method, profile) trained for a few epochs and timed.

An epoch here is what `dice.train.Trainer.run_epoch` does before validating: draw the epoch's
negatives (`seconds_sampling`), then `Trainer._train_steps` over the shuffled batches, whose
phase clock splits the steps into batching, forward, backward and optimiser seconds. With
`max_steps` below the epoch's step count, the steps are timed on a random subset of
`max_steps` batches and scaled to the full epoch (``steps_timed`` < ``steps``); sampling is
always timed in full. The full-ranking evaluation is `top_k` over all users plus the test
metrics, as validation does once per epoch. Peak memory is the process's resident peak (run
each cell in a fresh process, as `benchmarks.run` does) and, on CUDA, the allocator's peak.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from dice.batches import EpochSamples
from dice.config import parse_run_settings, run_settings
from dice.data.interactions import Split
from dice.evaluate import evaluate, top_k
from dice.process import deterministic_kernels
from dice.registry import build_model
from dice.seeding import numpy_rng, torch_generator
from dice.train import Trainer
from dice.verify import cpu_model

PHASES = ("batching", "forward", "backward", "optimizer")


def measure_group(split_dir: Path, config: Mapping, cells: Sequence[Mapping], *, epochs: int = 3,
                  warmup: int = 1, max_steps: int | None = None, device: str = "cpu",
                  eval_repeats: int = 3, seed: int = 0, sync_phases: bool = False) -> list[dict]:  # fmt: skip
    """Time several runs on one split, interleaved, so that load changes hit them all alike.

    After `warmup` untimed epochs of every run, each of the `epochs` rounds runs one epoch of
    every run in turn; then `eval_repeats` rounds of evaluations. Medians are reported, so a
    ratio of two runs of one group (DICE / BPR) compares epochs measured minutes apart at most.

    Args:
        split_dir: a split folder (`Split.load`).
        config: the validated suite config.
        cells: runs as ``{"method", "backbone", "profile"}`` (workflow `run_settings` keys).
        epochs: timed epochs per run (the median is reported; the issue asks for >= 3).
        warmup: untimed epochs first (allocator, caches, lazy initialisation).
        max_steps: time at most this many optimiser steps per epoch, scaled up (None: all).
        device: ``cpu`` or ``cuda``.
        eval_repeats: full-ranking evaluations timed per run (median reported).
        seed: run seed (initialisation, negatives, shuffling).
        sync_phases: on CUDA, synchronise around each phase (exact split, slower steps).

    Returns:
        One result per cell, in order; ``peak_rss_mib`` is this process's peak (the group's).
    """
    if any("mallopt" in variant_parts(c.get("variant", "default")) for c in cells):
        tune_malloc()  # process-wide: measure mallopt variants in their own group
    deterministic_kernels(device)  # as the command line's train stage
    split = Split.load(split_dir)
    runs = [
        _build(split, config, cell, device=device, seed=seed, sync=sync_phases) for cell in cells
    ]
    records: list[list[dict]] = [[] for _ in runs]
    for epoch in range(warmup + epochs):
        for run, out in zip(runs, records, strict=True):
            out.append(_epoch(run["trainer"], epoch, max_steps=max_steps, rng=run["rng"]))
    evals: list[list[float]] = [[] for _ in runs]
    for _ in range(eval_repeats):
        for run, out in zip(runs, evals, strict=True):
            out.append(_evaluation(run["trainer"], split, device=device))
    return [_summary(run, rec[warmup:], ev, split, device=device)
            for run, rec, ev in zip(runs, records, evals, strict=True)]  # fmt: skip


def _build(
    split: Split, config: Mapping, cell: Mapping, *, device: str, seed: int, sync: bool
) -> dict:
    settings = run_settings({**config, "profile": cell["profile"]}, method=cell["method"],
                            backbone=cell["backbone"])  # fmt: skip
    _, model_cfg, train_cfg = parse_run_settings(settings)
    start = time.perf_counter()
    model = build_model(model_cfg, split, generator=torch_generator(seed, "init"))
    trainer = Trainer(model, split, config=train_cfg, seed=seed, device=device, progress=False)
    trainer.sync_timing = sync
    _apply_variant(trainer, cell.get("variant", "default"))
    return {"trainer": trainer, "setup_seconds": time.perf_counter() - start,
            "rng": numpy_rng(seed, "benchmark-subset")}  # fmt: skip


#: Proposals measured against the configured behaviour (see benchmarks/README.md); a variant
#: is ``default`` or a ``+``-joined set of:
#: ``fused-adam``: the same Adam/AMSGrad settings with ``fused=True`` (one kernel per step);
#: ``dis128``: DICE's discrepancy on the first 128 positives of each batch (`DICE.discrepancy_rows`);
#: ``mallopt``: glibc keeps freed memory (no mmap/trim of large blocks), so the optimiser's
#: large temporaries stop page-faulting in afresh every step.
VARIANT_PARTS = ("fused-adam", "dis128", "mallopt")


def variant_parts(variant: str) -> set[str]:
    """The proposals named by `variant` (ValueError for an unknown one)."""
    parts = set() if variant == "default" else set(variant.split("+"))
    if not parts <= set(VARIANT_PARTS):
        raise ValueError(
            f"unknown variant {variant!r}; use 'default' or '+'-joined {VARIANT_PARTS}"
        )
    return parts


def tune_malloc() -> bool:
    """The allocator tuning the command line applies (`dice.process.tune_allocator`)."""
    from dice.process import tune_allocator

    return tune_allocator()


def _apply_variant(trainer: Trainer, variant: str) -> None:
    parts = variant_parts(variant)
    if "fused-adam" in parts:
        group = trainer.optimizer.param_groups[0]
        options = {k: group[k] for k in ("lr", "betas", "eps", "weight_decay", "amsgrad")}
        trainer.optimizer = torch.optim.Adam(trainer.model.parameters(), **options, fused=True)
    if "dis128" in parts and hasattr(trainer.model, "discrepancy_rows"):
        trainer.model.discrepancy_rows = 128


def _summary(
    run: Mapping, timed: list[dict], evals: list[float], split: Split, *, device: str
) -> dict:
    trainer = run["trainer"]
    result = {
        "dataset_shape": {
            "users": split.n_users,
            "items": split.n_items,
            "train": len(split.train_normal) + len(split.train_intervened),
        },  # fmt: skip
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "batch_size": trainer.config.batch_size,
        "setup_seconds": run["setup_seconds"],
        "epochs": timed,
        "evaluation_seconds_all": evals,
        "evaluation_seconds": float(np.median(evals)) if evals else float("nan"),
        "peak_rss_mib": peak_rss_mib(),
        "device": device,
        "threads": torch.get_num_threads(),
    }
    for key in ("seconds", "seconds_sampling", "seconds_steps", "cpu_seconds",
                *(f"seconds_{p}" for p in PHASES)):  # fmt: skip
        result[key] = float(np.median([r[key] for r in timed]))
    result["steps"], result["steps_timed"] = timed[0]["steps"], timed[0]["steps_timed"]
    result["sampling_share"] = result["seconds_sampling"] / result["seconds"]
    step_total = sum(result[f"seconds_{p}"] for p in PHASES) or 1.0
    result["phase_share"] = {p: result[f"seconds_{p}"] / step_total for p in PHASES}
    result["ms_per_step"] = 1000 * result["seconds_steps"] / max(result["steps"], 1)
    if device.startswith("cuda"):
        result["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def _epoch(
    trainer: Trainer, epoch: int, *, max_steps: int | None, rng: np.random.Generator
) -> dict:
    """Sample and train one epoch (or `max_steps` random batches of it), as run_epoch does."""
    model, size = trainer.model, trainer.config.batch_size
    schedule = model.epoch_state()
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cpu0, t0 = time.process_time(), time.perf_counter()
    samples = trainer.sampler.sample(rng=trainer.sample_rng, margin_up=schedule.get("margin_up", 0.0),
                                     pool=getattr(model, "pool", 40))  # fmt: skip
    t_sample = time.perf_counter() - t0
    n = len(samples)
    steps = n // size if trainer.config.drop_last else -(-n // size)
    timed = steps if max_steps is None else min(steps, max_steps)
    if timed < steps:
        samples = _rows(samples, np.sort(rng.choice(n, timed * size, replace=False)))
    cpu1, t1 = time.process_time(), time.perf_counter()
    terms = trainer._train_steps(samples, epoch)
    scale = steps / timed
    t_steps = (time.perf_counter() - t1) * scale
    model.end_epoch()
    record = {"seconds_sampling": t_sample, "seconds_steps": t_steps, "seconds": t_sample + t_steps,
              "cpu_seconds": cpu1 - cpu0 + (time.process_time() - cpu1) * scale, "steps": steps, "steps_timed": timed,
              "loss": terms.get("loss"),
              # minor page faults: fresh large temporaries (e.g. dense Adam's) fault in anew
              "page_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0}  # fmt: skip
    return record | {f"seconds_{p}": terms.get(f"seconds_{p}", 0.0) * scale for p in PHASES}


def _rows(samples: EpochSamples, index: np.ndarray) -> EpochSamples:
    mask = None if samples.mask is None else samples.mask[index]
    return EpochSamples(samples.users[index], samples.pos[index], samples.neg[index],
                        samples.intervened[index], mask, samples.fallback_rows)  # fmt: skip


def _evaluation(trainer: Trainer, split: Split, *, device: str) -> float:
    """Seconds for one full-ranking evaluation of every user (top-K, then test metrics)."""
    config, model = trainer.config, trainer.model
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.eval()
    with torch.no_grad():
        ranked = top_k(model.scorer("full"), n_users=split.n_users, exclude=split.train.csr(),
                       k=max(config.ks), batch_size=config.eval_batch_size, device=device)  # fmt: skip
    evaluate(ranked, split.test, ks=config.ks)
    model.train()
    return time.perf_counter() - start


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine_info() -> dict:
    """CPU model, cores, library versions, thread settings and load: what the numbers depend on."""
    info = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "mkl": torch.backends.mkl.is_available(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": list(os.getloadavg()),
    }
    return info


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)
