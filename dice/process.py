"""Process-wide settings that entry points apply (the command line, benchmarks, tests), never
library code: deterministic kernels and the allocator tuning."""

from __future__ import annotations


def deterministic_kernels(device: str) -> None:
    """Deterministic torch kernels where torch has them (bit-identical CPU reruns); on CUDA, ops
    without one warn instead of failing.

    `set_deterministic_debug_mode("error")` is `use_deterministic_algorithms(True)` ("warn":
    with `warn_only=True`) minus the latter's flag for `torch.compile`, which the suite does not
    use; the latter imports torch's compiler stack to set that flag, about as long as importing
    torch itself, in every training job."""
    import torch

    torch.set_deterministic_debug_mode("error" if device == "cpu" else "warn")


def tune_allocator() -> bool:
    """glibc: serve large blocks from the heap and never trim it (M_MMAP_THRESHOLD 1 GiB,
    M_TRIM_THRESHOLD 2 GiB). Without it the dense per-step gradient buffers of the big tables
    are mapped and unmapped on every step (thousands of page faults per step, measured in
    benchmarks/). Results are unchanged; False where mallopt is unavailable."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(-3, 1 << 30)) and bool(libc.mallopt(-1, 1 << 31))
