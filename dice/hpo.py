"""Hyperparameter grid search, as the paper says ("tuned by grid search", DICE §4.1).

A grid per method key is declared in the config (`hpo.grids`): each point is trained once on the
main split with `hpo.seed`, and the point with the best validation metric (`hpo.metric`, the
official watch metric Recall@50; `hpo.tuned.metric` for the tuned track's keys, `dice.tracks`)
is chosen for the seeded final runs of that (dataset, backbone, method) on every split. Ties go
to the first point in grid order. The choice is written to
`results/hpo/<id>/<dataset>/<split>/<backbone>/<method>/selection.json`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path

from dice.config import run_settings
from dice.errors import DiceError
from dice.io import read_json, write_json
from dice.tracks import grid_product, search_metric, tuned_grid

#: The parts of run settings an override may go to, in lookup order: the method's settings,
#: the backbone's, the training settings (`dice.config.run_settings`).
PARTS = ("model", "backbone", "train")
FIXED = {"backbone": {"name"}, "train": {"profile"}}
__all__ = ["apply_overrides", "chosen_overrides", "grid_points", "search_metric", "select"]


def grid_points(config: Mapping, method: str) -> list[dict]:
    """The grid of `method` as a list of override dicts (empty if the method has no grid): the
    cartesian product of `hpo.grids[method]`, or a tuned key's equal-budget grid
    (`dice.tracks.tuned_grid`)."""
    points = tuned_grid(config, method)
    if points is None:
        grid = config.get("hpo", {}).get("grids", {}).get(method)
        if not grid:
            return []
        points = grid_product(grid)
    settings = run_settings(config, method=method, backbone=config["backbones"][0])
    unknown = sorted({k for point in points for k in point if _part(settings, k) is None})
    if unknown:
        raise DiceError(f"hpo grid of {method!r} has unknown key(s) {unknown}")
    return points


def apply_overrides(settings: Mapping, overrides: Mapping) -> dict:
    """Run settings with `overrides` put into their model or train part."""
    out = copy.deepcopy(dict(settings))
    for key, value in overrides.items():
        part = _part(out, key)
        if part is None:
            raise DiceError(f"unknown hyperparameter {key!r}")
        out[part][key] = value
    return out


def _part(settings: Mapping, key: str) -> str | None:
    """The part of run settings that holds `key` (None if none does)."""
    for part in PARTS:
        if key in settings.get(part, {}) and key not in FIXED.get(part, ()):
            return part
    return None


def select(points: Iterable[Mapping], metric_files: Iterable[str | Path], *, metric: str) -> dict:
    """Pick the point whose run has the best validation `metric` (first on ties)."""
    rows = []
    for point, path in zip(points, metric_files, strict=True):
        value = read_json(path)["valid"].get(metric)
        if value is None:
            raise DiceError(f"validation metric {metric!r} is missing", path=path)
        rows.append({"overrides": dict(point), "valid": float(value), "metrics": str(path)})
    if not rows:
        raise DiceError("no grid point to select from")
    best = max(range(len(rows)), key=lambda i: (rows[i]["valid"], -i))
    return {"metric": f"valid {metric}", "chosen": rows[best]["overrides"], "points": rows}


def write_selection(path: str | Path, selection: Mapping) -> None:
    write_json(path, selection)


def chosen_overrides(path: str | Path) -> dict:
    """The overrides recorded by a selection file."""
    return dict(read_json(path)["chosen"])
