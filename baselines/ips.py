"""Inverse-propensity weights of the IPS family (official-code §6).

Propensities come from training popularity (normal + intervened train, the official
``popularity_blend.npy``). With c̃ = max(c, 1) and M = max c̃, the base weight of a positive item
is w = M / c̃ (IPS, Joachims et al. 2017; Schnabel et al. 2016). IPS-C caps it at the median
weight over all items (Bottou et al. 2013); IPS-CN divides the capped weight by that median
(Gruson et al. 2019); IPS-CNSR raises the IPS-CN weight to a smoothing exponent s and divides by
the new maximum (a no-op after IPS-CN, whose maximum is 1, as in the official code).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

IPS_VARIANTS = ("ips", "ips-c", "ips-cn", "ips-cnsr")


def ips_weights(
    counts: NDArray[np.integer], *, variant: str, smoothing: float = 1.0
) -> NDArray[np.float64]:
    """Per-item weights (length I) of an IPS variant, from training item counts."""
    if variant not in IPS_VARIANTS:
        raise ValueError(f"unknown IPS variant {variant!r}")
    clipped = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    weights = clipped.max() / clipped  # (I,) in [1, M]
    if variant == "ips":
        return weights
    median = float(np.median(weights))  # numpy median: mean of the two middle values if I is even
    weights = np.minimum(weights, median)
    if variant == "ips-c":
        return weights
    weights = weights / median
    if variant == "ips-cnsr":
        weights = weights**smoothing
        weights = weights / weights.max()
    return weights
