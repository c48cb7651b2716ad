"""How long the simulator takes to generate a preset (`dice.data.synthetic.generate_with_truth`).

One generation per seed, each timed in wall and process-CPU seconds (CPU time is what a busy
machine disturbs least); the median over seeds is reported and judged against
`report.GENERATION_LIMITS`. Only the clicks and the ground truth are generated: no
preprocessing or split, which `benchmarks.data.split_dir` caches separately.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from dice.data import synthetic
from dice.seeding import numpy_rng


def measure_generation(preset: str, *, seeds: Sequence[int] = (0,)) -> dict:
    """Wall and CPU seconds of generating `preset` once per seed; medians and the sizes."""
    if preset not in synthetic.PRESETS:
        raise ValueError(
            f"unknown preset {preset!r}; expected one of {', '.join(synthetic.PRESETS)}"
        )
    wall, cpu, rows = [], [], []
    for seed in seeds:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        frame, truth = synthetic.generate_with_truth(
            {"preset": preset}, rng=numpy_rng(seed, "synthetic")
        )
        wall.append(time.perf_counter() - wall0)
        cpu.append(time.process_time() - cpu0)
        rows.append(len(frame))
    return {
        "preset": preset,
        "seeds": list(seeds),
        "users": truth.n_users,
        "items": truth.n_items,
        "rows": rows,
        "seconds_all": wall,
        "cpu_seconds_all": cpu,
        "seconds": float(np.median(wall)),
        "cpu_seconds": float(np.median(cpu)),
    }
