"""Expected results: record the metrics of a finished run set, and verify fresh runs against them.

``expected/<config-name>.json`` holds, per run (``dataset/split/backbone/method/seed<n>``), every
number of its ``metrics.json`` except the timing fields, its seed, and the library versions,
Python, device and thread count it ran with, plus the machine it was recorded on.

`verify` compares fresh results with such a file. When the machine and every run's environment
match the recording, CPU training is deterministic and equality is required, bit for bit
(docs/guarantees.md). Otherwise each metric must stay within its tolerance band,
``|actual - expected| <= abs + rel * |expected|``, from `DEFAULT_TOLERANCES` or a user file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import pandas as pd
import torch
import yaml

from dice.config import load_config
from dice.errors import DiceError
from dice.io import read_json
from dice.plan import all_runs, main_runs, run_dir, run_name

FORMAT = 1
TIMING_KEYS = ("seconds_per_epoch", "peak_memory_mib")  # wall time and memory never reproduce
RUN_ENVIRONMENT = ("libraries", "python", "device", "torch_threads")  # from each run.json
# Bands for another machine or library set; how each was set: docs/reporting.md, "Tolerance bands".
DEFAULT_TOLERANCES: dict[str, dict[str, float]] = {
    "*recall@*": {"abs": 0.005, "rel": 0.02}, "*hr@*": {"abs": 0.01, "rel": 0.02},
    "*ndcg@*": {"abs": 0.005, "rel": 0.02}, "*rank_corr": {"abs": 0.005, "rel": 0.02},
    "best_epoch": {"abs": 1, "rel": 0.0}, "epochs": {"abs": 1, "rel": 0.0}, "*": {"abs": 0.0, "rel": 0.0},
}  # fmt: skip
Mode = Literal["auto", "exact", "tolerance"]


def expected_path(config_path: str | Path, root: str | Path = "expected") -> Path:
    """``expected/<config-name>.json`` for a config file (``config/smoke.yaml`` → smoke)."""
    return Path(root) / f"{Path(config_path).stem}.json"


def flatten_metrics(metrics: Mapping, prefix: str = "") -> dict[str, float]:
    """Every number of a metrics.json, keyed by its path (``test/recall@20``), timing excluded."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten_metrics(value, prefix=f"{name}/")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if key not in TIMING_KEYS:
                flat[name] = value
    return flat


def machine() -> dict:
    """What decides bit-exact CPU results besides the libraries: OS, architecture, CPU, kernels."""
    return {"system": platform.system(), "machine": platform.machine(), "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}  # fmt: skip


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def read_run(folder: Path) -> dict | None:
    """A finished run's metrics and environment, or None when its result files are absent."""
    if not ((folder / "metrics.json").exists() and (folder / "run.json").exists()):
        return None
    info = read_json(folder / "run.json")
    return {**{key: info.get(key) for key in (*RUN_ENVIRONMENT, "seed")},
            "context": info.get("context", {}), "metrics": flatten_metrics(read_json(folder / "metrics.json"))}  # fmt: skip


def run_folders(config: Mapping, results: str | Path, *, main: bool = False) -> dict[str, Path]:
    """Run name → run folder of every run of `config` (of its main grid only with `main`)."""
    runs = main_runs(config) if main else all_runs(config)
    return {run_name(r): Path(run_dir(r, root=str(results))) for r in runs}


def fresh_runs(config_path: str | Path, *, results: str | Path) -> tuple[dict, dict[str, dict | None]]:  # fmt: skip
    """The config's identity (name, hash) and run name → fresh results (None if unfinished)."""
    config = load_config(config_path)
    text = json.dumps(config, sort_keys=True, default=str)
    identity = {"name": Path(config_path).stem, "sha256": hashlib.sha256(text.encode()).hexdigest()}
    return identity, {name: read_run(f) for name, f in run_folders(config, results).items()}


def record(config_path: str | Path, *, results: str | Path = "results/runs") -> dict:
    """The expected-results document of a config whose runs have all finished."""
    identity, runs = fresh_runs(config_path, results=results)
    if unfinished := [name for name, entry in runs.items() if entry is None]:
        shown = ", ".join(unfinished[:5]) + (" …" if len(unfinished) > 5 else "")
        raise DiceError(f"{len(unfinished)} runs have no results yet: {shown}", path=results)
    return {"format": FORMAT, "config": identity, "machine": machine(), "runs": runs}


def load_expected(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise DiceError("expected-results file is missing; create it with `dice record`", path=path)
    try:
        doc = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DiceError(f"not valid JSON ({err})", path=path) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "runs" not in doc:
        raise DiceError(f"not an expected-results file of format {FORMAT}", path=path)
    return doc


def load_tolerances(path: str | Path | None) -> dict[str, dict[str, float]]:
    """User bands (pattern → {abs, rel}) first, then the defaults; patterns use fnmatch."""
    if path is None:
        return dict(DEFAULT_TOLERANCES)
    try:
        user = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise DiceError(f"cannot read tolerances ({type(err).__name__})", path=path) from None
    for pattern, band in user.items():
        if not isinstance(band, dict) or set(band) - {"abs", "rel"}:
            raise DiceError(f"tolerance {pattern!r} must map to {{abs: x, rel: y}}", path=path)
    bands = {pattern: {"abs": 0.0, "rel": 0.0, **value} for pattern, value in user.items()}
    return bands | {k: v for k, v in DEFAULT_TOLERANCES.items() if k not in bands}


def band(metric: str, tolerances: Mapping[str, Mapping[str, float]], expected: float) -> float:
    """The largest allowed |actual - expected| for `metric` (first matching pattern)."""
    for pattern, tol in tolerances.items():
        if any(fnmatch.fnmatchcase(name, pattern) for name in (metric, metric.split("/")[-1])):
            return tol.get("abs", 0.0) + tol.get("rel", 0.0) * abs(expected)
    return 0.0


class Moved(NamedTuple):
    """One metric of one run whose fresh value differs from the expected one."""

    run: str
    metric: str
    expected: float | None
    actual: float | None
    allowed: float
    mode: str

    @property
    def delta(self) -> float:
        return math.nan if self.expected is None or self.actual is None else self.actual - self.expected  # fmt: skip

    @property
    def ok(self) -> bool:
        return not math.isnan(self.delta) and abs(self.delta) <= self.allowed


@dataclass
class Verification:
    """Everything `verify` found; `ok` is False on any regression, missing or extra run."""

    expected_file: str
    problems: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)
    modes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Moved]:
        return [m for m in self.moved if not m.ok]

    @property
    def ok(self) -> bool:
        return not (self.problems or self.missing or self.extra or self.regressions)

    def summary(self) -> str:
        """One line: all runs reproduce, or every problem, moved metric, missing and extra run."""
        if self.ok:
            moved = f", {len(self.moved)} metrics moved within tolerance" if self.moved else ""
            return f"verify: all {len(self.modes)} runs reproduce {self.expected_file}{moved}"
        by_run: dict[str, list[str]] = {}
        for m in self.regressions:
            by_run.setdefault(m.run, []).append(f"{m.metric} {m.delta:+.6g}")
        return "verify failed: " + "; ".join([*self.problems,
            *(f"{run} moved ({', '.join(items)})" for run, items in by_run.items()),
            *(f"missing run {name}" for name in self.missing), *(f"extra run {name}" for name in self.extra)])  # fmt: skip

    def table(self) -> str:
        """Markdown: one row per metric that moved, and the missing and extra runs."""
        lines = [f"# Verification against {self.expected_file}", "", self.summary(), ""]
        if self.moved:
            rows = [{**m._asdict(), "delta": m.delta, "status": "ok" if m.ok else "REGRESSION"} for m in self.moved]  # fmt: skip
            columns = ["run", "metric", "expected", "actual", "delta", "allowed", "mode", "status"]
            lines += [pd.DataFrame(rows, columns=columns).to_markdown(index=False, floatfmt=".6g", missingval="—"), ""]  # fmt: skip
        lines += [f"- {text}" for text in (*self.problems, *self.notes)]
        lines += [f"- missing run: {name}" for name in self.missing] + [f"- extra run: {name}" for name in self.extra]  # fmt: skip
        return "\n".join(lines).rstrip() + "\n"


def verify(config_path: str | Path, expected: str | Path, *, results: str | Path = "results/runs",
           tolerances: Mapping[str, Mapping[str, float]] | None = None, mode: Mode = "auto") -> Verification:  # fmt: skip
    """Compare the fresh runs of `config_path` with the expected-results file `expected`: exact
    (`mode` auto: on the recording's machine and environment) or within `tolerances`."""
    doc, tolerances = load_expected(expected), DEFAULT_TOLERANCES if tolerances is None else tolerances  # fmt: skip
    report = Verification(expected_file=str(expected))
    identity, fresh = fresh_runs(config_path, results=results)
    recorded = doc.get("config", {})
    if recorded.get("name") != identity["name"]:
        report.problems.append(f"{expected} was recorded for config {recorded.get('name')!r}, "
                               f"not {identity['name']!r}")  # fmt: skip
    elif recorded.get("sha256") != identity["sha256"]:
        report.notes.append("the config changed since the results were recorded")
    same_machine = doc.get("machine") == machine()
    for name, got in fresh.items():  # in the config's order
        want = doc["runs"].get(name)
        if want is None and got is not None:
            report.extra.append(name)
        elif want is None:
            report.missing.append(f"{name} (not recorded, no results)")
        elif got is None:
            report.missing.append(name)
        else:
            same_env = all(want.get(key) == got.get(key) for key in RUN_ENVIRONMENT)
            exact = mode == "exact" or (mode == "auto" and same_machine and same_env)
            report.modes[name] = "exact" if exact else "tolerance"
            for metric in sorted(set(want["metrics"]) | set(got["metrics"])):
                a, b = want["metrics"].get(metric), got["metrics"].get(metric)
                if a is None or b is None or not (a == b or (math.isnan(a) and math.isnan(b))):
                    allowed = 0.0 if exact or a is None else band(metric, tolerances, a)
                    report.moved.append(Moved(name, metric, a, b, allowed, report.modes[name]))
    report.missing += [f"{name} (not in the config)" for name in doc["runs"] if name not in fresh]
    return report
