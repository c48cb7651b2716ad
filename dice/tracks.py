"""The tuned track: every method with the same grid-search budget (docs/debiasing-methods.md).

The main grid is the *faithful* track: each method at its published (or the authors' code's)
hyper-parameters. A config asks for the *tuned* track with the study ``tuned`` (which methods,
backbones and seeds) and ``hpo.tuned`` (the budget: shared learning rates and weight decays,
each method's own knob values, the number of points, the selection metric). `expand_tuned`
turns each method ``m`` of the study into the method key ``m-tuned`` (``objective: m``), whose
grid `equal_budget` derives from that one spec, so every method — the plain backbones
included — trains exactly ``budget`` grid points, and the study's seeds then run at the chosen
point. Nothing else is new: the points, the selection and the seeded runs are the grid search
of `dice.hpo` and the runs of `dice.plan`.

How the budget is equalised: a method's space is the product of the shared lr × weight-decay
pairs (P, size L) and its knob combinations (Q, size K; one empty combination for a method
without knobs). Every method trains ``budget`` distinct points of its space, taken in an order
that keeps both marginals balanced: point j pairs ``P[j mod L]`` with
``Q[(j + j div lcm(L, K)) mod K]`` (after a seeded shuffle of P and Q per method key), so every
lr × weight-decay pair is used ``budget / L`` times (± 1) and every knob combination
``budget / K`` times (± 1). With ``budget = L`` a method without knobs trains the full lr ×
weight-decay grid and a method with knobs trains every pair once, each with one of its knob
combinations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dice.errors import DiceError
from dice.settings import TunedTrack

STUDY = "tuned"
SUFFIX = "-tuned"
SHARED = ("lr", "weight_decay")  # the hyper-parameters every method searches


def is_tuned(method: str) -> bool:
    """Whether a method key is a tuned-track key (``<method>-tuned``)."""
    return method.endswith(SUFFIX)


def base_of(method: str) -> str:
    """The method key a tuned key tunes (``dice-tuned`` → ``dice``); other keys unchanged."""
    return method.removesuffix(SUFFIX)


def track_of(method: str) -> str:
    """``tuned`` for a tuned key, ``faithful`` for every other."""
    return "tuned" if is_tuned(method) else "faithful"


def expand_tuned(config: dict, source: str | Path = "config") -> None:
    """Give the study ``tuned`` its method keys: each method ``m`` (default: the config's
    methods) becomes ``m-tuned`` with ``objective: m`` in `method_settings`. Idempotent (a
    validated config may be validated again). DiceError for a study without ``hpo.tuned``, a
    knob of a method the study lacks, or a hand-written grid of a tuned key."""
    spec = config["hpo"].get("tuned")
    if spec is not None:  # an optional section: the schema fills no defaults inside it
        for f in dataclasses.fields(TunedTrack):
            if f.default is not dataclasses.MISSING:
                spec.setdefault(f.name, f.default)
            elif f.default_factory is not dataclasses.MISSING:
                spec.setdefault(f.name, f.default_factory())
    if STUDY not in config["studies"]:
        return
    study = config["studies"][STUDY]
    if spec is None:
        raise DiceError("the study 'tuned' needs hpo.tuned (budget, lr, weight_decay)", path=source)
    bases = list(dict.fromkeys(base_of(m) for m in study.get("methods", config["methods"])))
    if stray := sorted(set(spec["knobs"]) - set(bases)):
        raise DiceError(f"hpo.tuned.knobs names method(s) {', '.join(stray)} that the study "
                        f"'tuned' does not run (its methods: {', '.join(bases)})", path=source)  # fmt: skip
    for base in bases:
        if shared := sorted(set(spec["knobs"].get(base, {})) & set(SHARED)):
            raise DiceError(f"hpo.tuned.knobs.{base} sets {', '.join(shared)}, which every "
                            "method shares (hpo.tuned.lr / weight_decay)", path=source)  # fmt: skip
        if base + SUFFIX in config["hpo"]["grids"]:
            raise DiceError(f"hpo.grids.{base + SUFFIX}: a tuned key's grid comes from hpo.tuned",
                            path=source)  # fmt: skip
        config["method_settings"].setdefault(base + SUFFIX, {"objective": base})
    study["methods"] = [base + SUFFIX for base in bases]


def tuned_grid(config: Mapping, method: str) -> list[dict] | None:
    """The equal-budget grid of a tuned key of this config (None for any other key)."""
    spec = config.get("hpo", {}).get("tuned")
    study = config.get("studies", {}).get(STUDY, {})
    if spec is None or method not in study.get("methods", ()):
        return None
    shared = {name: spec[name] for name in SHARED}
    knobs = spec["knobs"].get(base_of(method), {})
    seed = int.from_bytes(hashlib.sha256(method.encode()).digest()[:8], "big")
    rng = np.random.default_rng([config["hpo"]["seed"], seed])
    try:
        return equal_budget(shared, knobs, spec["budget"], rng=rng)
    except DiceError as err:
        raise DiceError(f"tuned grid of {method!r}: {err}") from None


def search_metric(config: Mapping, method: str) -> str:
    """The validation metric that selects a method key's grid point: ``hpo.tuned.metric`` for
    a tuned key, ``hpo.metric`` for every other."""
    if tuned_grid(config, method) is not None:
        return config["hpo"]["tuned"]["metric"]
    return config["hpo"]["metric"]


def grid_product(values: Mapping[str, list]) -> list[dict]:
    """Every combination of the listed values, as dicts (keys sorted, the last one fastest)."""
    keys = sorted(values)
    return [dict(zip(keys, v, strict=True)) for v in itertools.product(*(values[k] for k in keys))]


def equal_budget(
    shared: Mapping[str, list], knobs: Mapping[str, list], budget: int, *, rng: np.random.Generator
) -> list[dict]:
    """`budget` distinct points of shared × knobs with balanced marginals (module docstring).

    Raises:
        DiceError: when the space has fewer than `budget` points.
    """
    pairs, combos = grid_product(shared), grid_product(knobs)
    size_p, size_q = len(pairs), len(combos)
    if budget > size_p * size_q:
        raise DiceError(f"budget {budget} exceeds its {size_p} lr × weight-decay pairs × "
                        f"{size_q} knob combinations; add values or lower hpo.tuned.budget")  # fmt: skip
    order_p, order_q = rng.permutation(size_p), rng.permutation(size_q)
    block = math.lcm(size_p, size_q)
    return [{**pairs[order_p[j % size_p]], **combos[order_q[(j + j // block) % size_q]]}
            for j in range(budget)]  # fmt: skip
