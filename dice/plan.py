"""The plan of a config: every data set, split, grid search and run it asks for, and its folder.

This is the one place that derives them; the workflow (`workflow/rules/common.smk`) and the
command line (`dice plan`, `dice verify`, the report commands' ``--config``) call it.

A stage's folder is ``results/<stage>/<id>/<name>``: ``<name>`` is the logical name people use
(``tiny/cap0.9-share0.1/mf/dice/seed0``, the key of ``expected/*.json``), ``<id>`` the first
`ID_LENGTH` hex digits of the SHA-256 of the stage's resolved settings as canonical JSON. The
settings chain: a split's settings hold its data's id, a run's its split's id (and its grid
search's id), so a changed setting gives new folders to exactly the stages it shapes. See
docs/results-layout.md.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from dice.config import needs_intervened, run_settings
from dice.data import random_exposure
from dice.data.userfile import file_sha256, file_spec
from dice.errors import DiceError
from dice.hpo import apply_overrides, grid_points, search_metric

ID_LENGTH = 10
RESULTS = "results"
STAGES = ("data", "splits", "runs", "hpo", "logs", "benchmarks")  # not usable as config names
RUN_KEYS = ("dataset", "split", "backbone", "method", "seed")
SPLIT_PARTS = ("train_normal", "train_intervened", "valid", "test")
PARITY_SOURCES = ("dice-ml10m", "dice-netflix")  # the authors' released splits, read as-is
PARITY_SPLIT = "parity"
CATALOGUE = Path(str(importlib.resources.files("dice.data") / "catalogue.yaml"))  # dataset sources


def canonical(settings: object) -> str:
    """Settings as canonical JSON: sorted keys, no spaces (the text that is hashed)."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def identity(settings: object) -> str:
    """The short content hash of resolved settings (`ID_LENGTH` hex digits)."""
    return hashlib.sha256(canonical(settings).encode()).hexdigest()[:ID_LENGTH]


@dataclass(frozen=True)
class Stage:
    """One stage output: its logical name, resolved settings, and the id of those settings."""

    kind: str  # data, splits, hpo, runs
    name: str
    settings: dict

    @property
    def id(self) -> str:
        return identity(self.settings)

    @property
    def path(self) -> str:
        """Folder relative to ``results/<kind>``: ``<id>/<name>``."""
        return f"{self.id}/{self.name}"

    @property
    def dir(self) -> str:
        return f"{RESULTS}/{self.kind}/{self.path}"


# --- logical names -----------------------------------------------------------------------------


def split_name(split: Mapping) -> str:
    """The logical name of a split: its cap and intervened-train share (the studied knobs), and
    the pool its intervened train is drawn from when that is larger (a study of shares)."""
    pool = f"-pool{split['intervened_pool_share']:g}" if "intervened_pool_share" in split else ""
    return f"cap{split['cap']:g}-share{split['intervened_train_share']:g}{pool}"


split_id = split_name  # the name it had in dice.config


def run_name(run: Mapping) -> str:
    """``dataset/split/backbone/method/seed<n>``: the key of a run in ``expected/*.json``."""
    return f"{run['dataset']}/{run['split']}/{run['backbone']}/{run['method']}/seed{run['seed']}"


def config_name(config_path: str | Path) -> str:
    """The name of a config's own folder under results/ (tables, figures): the file's stem."""
    name = Path(config_path).stem
    if name in STAGES:
        raise DiceError(f"a config may not be named {name!r} (a results/ folder)", path=config_path)
    return name


def report_dir(config_path: str | Path) -> str:
    """``results/<config name>``: where a config's tables, figures and checks go."""
    return f"{RESULTS}/{config_name(config_path)}"


# --- data and splits ---------------------------------------------------------------------------


def is_parity(config: Mapping, dataset: str) -> bool:
    return config["datasets"][dataset]["source"] in PARITY_SOURCES


def data_stage(config: Mapping, dataset: str) -> Stage:
    """What `dice prepare` makes of a dataset: everything that shapes its interactions."""
    entry = _dataset_entry(config, dataset)
    entry_preprocess = entry.get("preprocess", {})
    preprocess = {**config["preprocess"], **entry_preprocess}
    entry = {k: v for k, v in entry.items() if k not in ("main_grid", "preprocess")}
    settings = {"dataset": dataset, "entry": entry, "preprocess": preprocess,
                "seed": config["split"]["seed"], "source": _source_of(entry)}  # fmt: skip
    if (source := entry["source"]) in random_exposure.SOURCES:  # files placed in resources/raw
        preprocess.update(random_exposure.source_preprocess(source) | entry_preprocess)
        raw = f"resources/raw/{source}"
        settings["files_sha256"] = random_exposure.placed_sha256(source, raw, dataset=dataset)
    if entry["source"] == "file":  # the user's own file: its content is part of what it is
        spec = entry["file"] = file_spec(entry, dataset=dataset)
        settings["file_sha256"] = file_sha256(spec["path"], dataset=dataset)
        if spec["implicit"]:  # every row is a positive: the threshold shapes nothing
            preprocess.pop("rating_threshold")
    return Stage("data", dataset, settings)


def _dataset_entry(config: Mapping, dataset: str) -> dict:
    if dataset not in config["datasets"]:
        raise DiceError(
            f"unknown dataset {dataset!r}; the config defines: {', '.join(config['datasets'])}"
        )
    return dict(config["datasets"][dataset])


def _source_of(entry: Mapping) -> dict | None:
    """The catalogue row of a real source (dice/data/catalogue.yaml: URL, archive member,
    checksum); None for synthetic data, which the entry's preset and overrides describe."""
    if entry["source"] in ("synthetic", "file"):
        return None
    return json.loads(_catalogue_row(entry["source"]))


@functools.lru_cache(maxsize=16)
def _catalogue_row(source: str) -> str:
    """(Read here, not through dice.data.datasets, whose import takes seconds.)"""
    try:
        table = yaml.safe_load(CATALOGUE.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise DiceError(
            f"cannot read the dataset table ({type(err).__name__})", path=CATALOGUE
        ) from None
    return canonical(table.get(source))


def split_options(config: Mapping, *, cap=None, share=None, pool=None) -> dict:
    """The config's split settings, at another cap or intervened-train share (floats) if given;
    `pool` (a study's largest share) is kept only where it exceeds the share, so a split drawn
    for its own share has the same settings, id and name as before pools existed."""
    options = dict(config["split"])
    if cap is not None:
        options["cap"] = cap
    if share is not None:
        options["intervened_train_share"] = share
    if pool is not None and pool > options["intervened_train_share"]:
        options["intervened_pool_share"] = pool
    return options


def split_stage(config: Mapping, dataset: str, options: Mapping) -> Stage:
    """A split of a dataset: its data's id and every split setting (or the authors' archive)."""
    if is_parity(config, dataset):
        source = config["datasets"][dataset]["source"]
        return Stage("splits", f"{dataset}/{PARITY_SPLIT}", {"dataset": dataset, "parity": source})
    settings = {"data": data_stage(config, dataset).id, "split": dict(options)}
    if config["datasets"][dataset]["source"] == "synthetic":  # its counterfactual test's size
        settings["counterfactual_per_user"] = config["analysis"]["counterfactual_per_user"]
    return Stage("splits", f"{dataset}/{split_name(options)}", settings)


def main_split(config: Mapping, dataset: str) -> Stage:
    """The split a dataset's main grid (and its grid searches) use."""
    return split_stage(config, dataset, split_options(config))


def main_split_id(config: Mapping, dataset: str) -> str:
    """The logical name of a dataset's main split (``parity`` for the authors' archives)."""
    return main_split(config, dataset).name.split("/", 1)[1]


# --- grid searches -----------------------------------------------------------------------------


def hpo_stage(config: Mapping, dataset: str, backbone: str, method: str) -> Stage | None:
    """The grid search of a (dataset, backbone, method) on the main split (None: no grid)."""
    points = grid_points(config, method)
    if not points:
        return None
    split = main_split(config, dataset)
    settings = {"split": split.id, "settings": run_settings(config, method=method, backbone=backbone),
                "grid": points, "metric": search_metric(config, method), "seed": config["hpo"]["seed"]}  # fmt: skip
    return Stage("hpo", f"{split.name}/{backbone}/{method}", settings)


def hpo_points(config: Mapping, search: Stage) -> list[Stage]:
    """One stage per grid point: the point's own settings, trained with the search's seed."""
    base, points = search.settings, []
    for index, point in enumerate(base["grid"]):
        settings = {"split": base["split"], "settings": apply_overrides(base["settings"], point),
                    "seed": base["seed"], "point": index}  # fmt: skip
        points.append(Stage("hpo", f"{search.name}/p{index}", settings))
    return points


# --- runs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """A run with the stages it depends on."""

    run: dict  # dataset, split, backbone, method, seed (logical) and dir (under results/runs)
    split: Stage
    search: Stage | None
    stage: Stage


def main_runs(config: Mapping) -> list[dict]:
    """The main grid (Table 2): datasets × main split × backbones × methods × seeds."""
    return [p.run for p in _grid(config, {"methods": config["methods"]})]


def study_runs(config: Mapping, name: str) -> list[dict]:
    """The runs of one study (see config `studies`)."""
    return [p.run for p in _study(config, name)]


def all_runs(config: Mapping) -> list[dict]:
    """Every run the config asks for (main grid and studies), without repeats, in order."""
    return [p.run for p in planned_runs(config)]


def planned_runs(config: Mapping) -> list[Planned]:
    """`all_runs` with the stages each run depends on."""
    seen: dict[tuple, Planned] = {}
    for planned in [*_grid(config, {"methods": config["methods"]}),
                    *(p for s in config["studies"] for p in _study(config, s))]:  # fmt: skip
        seen.setdefault(tuple(planned.run[k] for k in RUN_KEYS), planned)
    return list(seen.values())


def run_dir(run: Mapping, root: str = f"{RESULTS}/runs") -> str:
    """The folder of a run (a dict of `main_runs`, `study_runs` or `all_runs`) under `root`."""
    if "dir" not in run:
        raise DiceError(f"run {run_name(run)} has no folder; take runs from dice.plan")
    return f"{root}/{run['dir']}"


def _study(config: Mapping, name: str) -> list[Planned]:
    if name not in config["studies"]:
        raise DiceError(
            f"unknown study {name!r}; the config defines: {', '.join(config['studies'])}"
        )
    return _grid(config, config["studies"][name])


def _splits(config: Mapping, study: Mapping, dataset: str) -> list[dict]:
    """The split settings of each split a study runs on `dataset`. A study of several shares
    draws every split from the pool of its largest share (docs/protocol.md#intervened-split)."""
    if is_parity(config, dataset):
        return [split_options(config)]  # fixed by the archive
    shares = study.get("shares", [config["split"]["intervened_train_share"]])
    pool = max(shares) if "shares" in study else None
    return [split_options(config, cap=cap, share=share, pool=pool)
            for cap in study.get("caps", [config["split"]["cap"]]) for share in shares]  # fmt: skip


def _grid(config: Mapping, study: Mapping) -> list[Planned]:
    runs = []
    default = [name for name, d in config["datasets"].items() if d.get("main_grid", True)]
    for dataset in study.get("datasets", default):
        for options in _splits(config, study, dataset):
            split = split_stage(config, dataset, options)
            for backbone in study.get("backbones", config["backbones"]):
                for method in study.get("methods", config["methods"]):
                    if needs_intervened(config, method) and not _has_intervened(config, split):
                        continue  # CausE needs intervened training data (DICE §4.5)
                    search = hpo_stage(config, dataset, backbone, method)
                    settings = {"split": split.id, "hpo": search.id if search else None,
                                "settings": run_settings(config, method=method, backbone=backbone)}  # fmt: skip
                    for seed in study.get("seeds", config["seeds"]):
                        run = {"dataset": dataset, "split": split.name.split("/", 1)[1],
                               "backbone": backbone, "method": method, "seed": seed}  # fmt: skip
                        stage = Stage("runs", run_name(run), settings)
                        runs.append(Planned({**run, "dir": stage.path}, split, search, stage))
    return runs


def _has_intervened(config: Mapping, split: Stage) -> bool:
    return "split" not in split.settings or split.settings["split"]["intervened_train_share"] != 0


# --- the whole plan, by folder (what the workflow's rules look up) ------------------------------


class Plan:
    """Every stage of a config, keyed by its folder under ``results/<kind>/`` (`Stage.path`)."""

    def __init__(self, config: Mapping):
        self.config = config
        self.runs = {p.stage.path: p for p in planned_runs(config)}
        splits = [p.split for p in self.runs.values()]
        splits += [main_split(config, d) for d in config["datasets"]]  # Table 1: every dataset
        self.splits = {s.path: s for s in splits}
        self.data = {}
        for dataset in config["datasets"]:
            if not is_parity(config, dataset):
                stage = data_stage(config, dataset)
                self.data[stage.path] = stage
        self.searches = {p.search.path: p.search for p in self.runs.values() if p.search}
        self.points = {
            point.path: (point, search)
            for search in self.searches.values()
            for point in hpo_points(config, search)
        }

    def get(self, kind: str, path: str):
        """The stage of `kind` (runs, splits, data, searches, points) at `path`."""
        table = getattr(self, kind)
        if path not in table:
            raise DiceError(f"{kind} folder {path!r} is not part of this config's plan")
        return table[path]

    def data_of(self, split: Stage) -> Stage | None:
        """The data a split is made from (None for the authors' archives)."""
        dataset = split.name.split("/", 1)[0]
        return None if is_parity(self.config, dataset) else data_stage(self.config, dataset)

    def split_of_search(self, search: Stage) -> Stage:
        """The split a grid search trains on (its dataset's main split)."""
        return main_split(self.config, search.name.split("/", 1)[0])

    def points_of(self, search: Stage) -> list[Stage]:
        """The grid points of a search, in grid order."""
        return hpo_points(self.config, search)
