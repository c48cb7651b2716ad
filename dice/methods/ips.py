"""Inverse-propensity weights of the IPS family (docs/authors-code.md#ips).

Propensities come from training popularity (normal + intervened train, the official
``popularity_blend.npy``). With c̃ = max(c, 1) and M = max c̃, the base weight of a positive item
is w = M / c̃ (IPS, Joachims et al. 2017; Schnabel et al. 2016). IPS-C caps it at the median
weight over all items (Bottou et al. 2013); IPS-CN divides the capped weight by that median
(Gruson et al. 2019); IPS-CNSR raises the IPS-CN weight to a smoothing exponent s and divides by
the new maximum (a no-op after IPS-CN, whose maximum is 1, as in the official code).

Dividing every weight by one constant barely changes an Adam-trained model (Adam's steps are
invariant to the loss's scale but for eps and the weight decay), so IPS-C and IPS-CN train
almost alike. ``ips_normalisation="batch"`` makes IPS-CN the self-normalised estimator that
Gruson et al. call normalised capped importance sampling: each batch's weighted loss is divided
by the batch's mean capped weight, a normaliser that changes from batch to batch
(docs/authors-code.md#ips).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray

from dice.errors import DiceError
from dice.methods.bpr import BPRRecommender
from dice.methods.spec import Method
from dice.settings import setting

IPS_VARIANTS = ("ips", "ips-c", "ips-cn", "ips-cnsr")
PARTS = ("train_normal", "train_intervened")  # the authors' popularity_blend.npy


@dataclass(frozen=True)
class IPSSettings:
    variant: Literal["ips", "ips-c", "ips-cn", "ips-cnsr"] = setting(
        "ips", doc="weighting: plain, capped, capped-normalised, or smoothed (IPS-CNSR)",
        source="DICE §4.1 baselines; authors' code: IPS weights")  # fmt: skip
    ips_smoothing: float = setting(
        1.0, doc="IPS-CNSR smoothing exponent s (unpublished; grid-searched)",
        source="not published (docs/authors-code.md); 1 = no smoothing", exclusiveMinimum=0)  # fmt: skip
    ips_normalisation: Literal["median", "batch"] = setting(
        "median", doc="IPS-CN(SR) normaliser: median (a constant, the authors' code) or batch "
        "(self-normalised: the batch's weighted loss divided by its mean capped weight, the "
        "NCIS estimator of Gruson et al., WSDM'19)", source="authors' code: IPS weights")  # fmt: skip


def build(settings: IPSSettings, context) -> BPRRecommender:
    batch = settings.ips_normalisation == "batch"
    if batch and settings.variant not in ("ips-cn", "ips-cnsr"):
        raise DiceError(f"ips_normalisation 'batch' normalises IPS-CN(SR) weights; variant "
                        f"{settings.variant!r} has no normalisation")  # fmt: skip
    backbone = context.backbone(context.train_graph())
    counts = context.popularity(PARTS, use="IPS")
    weights = ips_weights(counts, variant=settings.variant, smoothing=settings.ips_smoothing)
    return BPRRecommender(backbone, item_weight=torch.from_numpy(weights), self_normalise=batch)


METHOD = Method(family="ips", settings=IPSSettings, build=build)


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
