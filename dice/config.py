"""Configuration: schema validation of the suite's YAML, and the typed settings of one run.

`load_config` validates `config/config.yaml`-style files against
`workflow/schemas/config.schema.yaml` (filling defaults, rejecting unknown keys) and checks the
cross-field rules the schema cannot express. `run_settings` resolves the slice one run needs
(method key → objective and its settings, backbone, training profile) into a JSON-able dict;
`ModelConfig` and `TrainConfig` are the frozen dataclasses the library works with.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

from dice.errors import DiceError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
OBJECTIVES = (
    "none", "ips", "ips-c", "ips-cn", "ips-cnsr", "cause", "bias-u", "bias-i", "bias-ui", "dice",
    "itempop",
)  # fmt: skip
BACKBONES = ("mf", "lightgcn")
DUAL_TABLE = ("dice", "cause")


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def load_config(path: str | Path) -> dict:
    """Read, validate and complete a suite config file (DiceError naming the file if bad)."""
    path = Path(path)
    if not path.exists():
        raise DiceError("config file is missing", path=path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise DiceError(f"not valid YAML ({err.__class__.__name__})", path=path) from None
    return validate_config(raw, source=path)


def validate_config(raw: Mapping, *, source: str | Path = "config") -> dict:
    """Validate `raw` against the schema, fill defaults, and check cross-field rules."""
    config = copy.deepcopy(dict(raw))
    schema = load_schema()
    errors = sorted(_DefaultFilling(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        raise DiceError(_describe(errors[0], schema), path=source)
    _expand_alpha_studies(config)
    _check_cross_fields(config, source)
    return config


def _expand_alpha_studies(config: dict) -> None:
    """A study with `alphas` runs DICE with and without the curriculum at each initial α
    (Fig. 8a): it gains method keys ``dice-a<α>-curriculum`` and ``dice-a<α>-normal``."""
    for study in config["studies"].values():
        if "alphas" not in study:
            continue
        methods = []
        for alpha in study["alphas"]:
            for mode, on in (("curriculum", True), ("normal", False)):
                key = f"dice-a{alpha:g}-{mode}"
                config["method_settings"].setdefault(key, {"objective": "dice",
                    "interest_weight": alpha, "conformity_weight": alpha, "curriculum": on})  # fmt: skip
                methods.append(key)
        study["methods"] = [*study.get("methods", []), *methods]


def _describe(error: jsonschema.ValidationError, schema: dict) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = list(error.schema.get("properties", {}))
        hints = [
            f"{k!r} (did you mean {m[0]!r}?)"
            if (m := difflib.get_close_matches(k, known, 1))
            else repr(k)
            for k in extra
        ]
        return f"unknown key {', '.join(hints)} in {where}"
    return f"{where}: {error.message}"


def _check_cross_fields(config: dict, source: str | Path) -> None:
    split = config["split"]
    total = split["intervened_train_share"] + split["valid_share"] + split["test_share"]
    if total >= 1:
        raise DiceError(
            f"split shares sum to {total:g}; they must leave a normal part (< 1)", path=source
        )
    if split["cap_mode"] == "probability" and split["scope"] == "per_user":
        raise DiceError(
            "split cap_mode 'probability' is only defined for scope 'global'", path=source
        )
    if config["profile"] not in config["profiles"] and config["profile"] != "faithful":
        raise DiceError(f"profile {config['profile']!r} is not a key of profiles", path=source)
    for name in config["methods"]:
        objective_of(config, name, source=source)
    for study_name, study in config["studies"].items():
        for name in study.get("methods", []):
            objective_of(config, name, source=f"{source} (study {study_name})")
        for name in study.get("datasets", []):
            if name not in config["datasets"]:
                raise DiceError(f"study {study_name!r} names unknown dataset {name!r}", path=source)
    for name, dataset in config["datasets"].items():
        if dataset["source"] == "synthetic" and "preset" not in dataset:
            raise DiceError(f"dataset {name!r}: a synthetic source needs a preset", path=source)


def objective_of(config: Mapping, method: str, *, source: str | Path = "config") -> str:
    """The objective a method key runs (DiceError for an unknown method)."""
    objective = config.get("method_settings", {}).get(method, {}).get("objective", method)
    if objective not in OBJECTIVES:
        close = difflib.get_close_matches(method, OBJECTIVES, 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DiceError(
            f"unknown method {method!r}{hint}; known: {', '.join(OBJECTIVES)}", path=source
        )
    return objective


def _set_defaults(validator, properties, instance, schema):
    if isinstance(instance, dict):
        for key, sub in properties.items():
            if "default" in sub and key not in instance:
                instance[key] = copy.deepcopy(sub["default"])
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](
        validator, properties, instance, schema
    )


_DefaultFilling = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"properties": _set_defaults}
)


# --- typed run settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model: backbone × objective and their settings."""

    objective: str
    backbone: Literal["mf", "lightgcn"]
    embedding_dim: int = 128
    dual_embedding_dim: int = 64
    lightgcn_layers: int = 2
    lightgcn_self_loops: bool = True
    lightgcn_dropout: float = 0.2
    interest_weight: float = 0.1
    conformity_weight: float = 0.1
    discrepancy_weight: float = 0.01
    discrepancy: Literal["dcor", "l1", "l2"] = "dcor"
    margin_up: float = 40.0
    pool: int = 40
    decay: float = 0.9
    curriculum: bool = True
    negatives: Literal["pnsm", "random"] = "pnsm"
    cause_loss: Literal["bce", "bpr"] = "bce"
    ips_smoothing: float = 1.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise DiceError(f"unknown objective {self.objective!r}")
        if self.backbone not in BACKBONES:
            raise DiceError(f"unknown backbone {self.backbone!r}; known: {', '.join(BACKBONES)}")

    @property
    def dim(self) -> int:
        """Embedding size per table: two-table methods halve it for equal parameters."""
        return self.dual_embedding_dim if self.objective in DUAL_TABLE else self.embedding_dim


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and batching (SPEC §3; code §2.1)."""

    batch_size: int = 128
    negatives_per_positive: int = 4
    lr: float = 0.01
    lr_dice: float = 0.001
    weight_decay: float = 5e-8
    betas: tuple[float, float] = (0.5, 0.99)
    amsgrad: bool = True
    lr_patience: int = 5
    lr_factor: float = 0.1
    min_lr: float = 1e-4
    es_patience: int = 3
    max_epochs: int = 500
    drop_last: bool = True
    negative_exclusion: Literal["all_train", "same_part"] = "all_train"
    ks: tuple[int, ...] = (20, 50)
    valid_metric: str = "recall@50"
    eval_batch_size: int = 2048
    profile: str = "faithful"

    def learning_rate(self, objective: str) -> float:
        return self.lr_dice if objective == "dice" else self.lr


def from_mapping(cls: type, values: Mapping[str, Any]):
    """Build a frozen dataclass, rejecting unknown keys with a one-line DiceError."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise DiceError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**values)


def run_settings(config: Mapping, *, method: str, backbone: str) -> dict:
    """The resolved, JSON-able settings of one run: {"model": {...}, "train": {...}}."""
    objective = objective_of(config, method)
    overrides = {
        k: v for k, v in config["method_settings"].get(method, {}).items() if k != "objective"
    }
    if method != objective:  # a variant inherits its objective's settings, then overrides them
        overrides = {**config["method_settings"].get(objective, {}), **overrides}
        overrides.pop("objective", None)
    model = ModelConfig(objective=objective, backbone=backbone, **config["model"], **overrides)
    profile = config["profile"]
    train_values = {**config["train"], **config["profiles"].get(profile, {})}
    evaluation = config["evaluation"]
    train = from_mapping(
        TrainConfig,
        {**train_values, "ks": evaluation["ks"], "valid_metric": evaluation["valid_metric"],
         "eval_batch_size": evaluation["batch_size"], "profile": profile},
    )  # fmt: skip
    return {"method": method, "model": asdict(model), "train": asdict(train)}


def parse_run_settings(settings: Mapping) -> tuple[str, ModelConfig, TrainConfig]:
    return (
        settings["method"],
        from_mapping(ModelConfig, settings["model"]),
        from_mapping(TrainConfig, settings["train"]),
    )


# The plan of a config (its runs, splits and their folders) lives in dice.plan; these names are
# served from there while callers move over.
_MOVED = ("split_id", "RUN_KEYS", "main_runs", "study_runs", "all_runs", "PARITY_SOURCES",
          "PARITY_SPLIT", "main_split_id", "run_dir")  # fmt: skip


def __getattr__(name: str):
    if name in _MOVED:
        import dice.plan

        return getattr(dice.plan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
