"""The only place that seeds anything.

Every random draw in the suite takes a generator made here from a `numpy.random.SeedSequence`
keyed on the run's seed and a purpose string, so that two stages never share a stream and the
same (seed, purpose) always gives the same stream. No global RNG state is read or written.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def _purpose_key(purpose: str) -> int:
    return int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:8], "little")


def seed_sequence(seed: int, purpose: str) -> np.random.SeedSequence:
    """A SeedSequence for `purpose` (e.g. ``"split"``, ``"sampler"``) under `seed`."""
    if seed < 0:
        from dice.errors import DiceError

        raise DiceError(f"seed must be an integer >= 0, got {seed}")
    return np.random.SeedSequence([seed, _purpose_key(purpose)])


def numpy_rng(seed: int, purpose: str) -> np.random.Generator:
    """A numpy Generator (PCG64) for `purpose` under `seed`."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, purpose)))


def torch_generator(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch Generator on `device` seeded from the same SeedSequence scheme."""
    state = seed_sequence(seed, purpose).generate_state(1, dtype=np.uint64)[0]
    gen = torch.Generator(device=device)
    gen.manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)
    return gen
