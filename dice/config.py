"""Configuration: validation of the suite's YAML, and the typed settings of one run.

`load_config` validates config files against the schema generated from the typed settings
(`dice.schema`: defaults filled, unknown keys rejected) and checks the cross-field rules the
schema cannot express (`_check_cross_fields`, the one place for them). `run_settings` resolves
the slice one run needs (method key → registry entry and its settings, backbone, training
profile, learning rate) into a JSON-able dict; `parse_run_settings` turns it into the frozen
`ModelConfig` and `TrainConfig` the library works with.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dice.data.userfile import file_spec
from dice.errors import DiceError
from dice.methods import REGISTRY, Method, methods
from dice.methods.dice import curriculum_variants
from dice.settings import BACKBONES, PROFILES, BackboneSettings
from dice.tracks import expand_tuned


def load_config(path: str | Path) -> dict:
    """Read, validate and complete a suite config file (DiceError naming the file if bad)."""
    path = Path(path)
    if not path.exists():
        raise DiceError("config file is missing", path=path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or err.__class__.__name__
        raise DiceError(f"not valid YAML{where}: {problem}", path=path) from None
    return validate_config(raw, source=path)


def validate_config(raw: Mapping, *, source: str | Path = "config") -> dict:
    """Validate `raw` against the schema, fill defaults, and check cross-field rules."""
    from dice.schema import config_schema

    config = copy.deepcopy(dict(raw))
    schema = config_schema()
    errors = sorted(_DefaultFilling(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        raise DiceError(_describe(errors[0], schema), path=source)
    config["profiles"] = {**copy.deepcopy(PROFILES), **config["profiles"]}
    _expand_alpha_studies(config)
    expand_tuned(config, source)  # the study `tuned`: its <method>-tuned keys (dice.tracks)
    _check_cross_fields(config, source)
    return config


def _expand_alpha_studies(config: dict) -> None:
    """A study with `alphas` runs the curriculum study at each initial α (Fig. 8a): it gains
    the method keys of `curriculum_variants` (with and without the curriculum)."""
    for study in config["studies"].values():
        if "alphas" not in study:
            continue
        methods = []
        for alpha in study["alphas"]:
            for key, settings in curriculum_variants(alpha).items():
                config["method_settings"].setdefault(key, settings)
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
    if config["profile"] not in config["profiles"]:
        known = ", ".join(config["profiles"])
        raise DiceError(f"profile {config['profile']!r} is neither built in nor a key of "
                        f"profiles (known: {known})", path=source)  # fmt: skip
    for name in [*config["methods"], *config["method_settings"]]:
        resolve_method(config, name, source=source)
    for study_name, study in config["studies"].items():
        for name in study.get("methods", []):
            resolve_method(config, name, source=f"{source} (study {study_name})")
        for name in study.get("datasets", []):
            if name not in config["datasets"]:
                raise DiceError(f"study {study_name!r} names unknown dataset {name!r}", path=source)
    for name, dataset in config["datasets"].items():
        if dataset["source"] == "synthetic" and "preset" not in dataset:
            raise DiceError(f"dataset {name!r}: a synthetic source needs a preset", path=source)
        file_spec(dataset, dataset=name, source=source)  # the user's own file: its entry


def resolve_method(
    config: Mapping, method: str, *, source: str | Path = "config", _seen: tuple = ()
) -> tuple[str, dict]:
    """(registry key at the root of `method`, its resolved settings values).

    A registry key starts from its entry's fixed settings (on top of its `base`'s resolved
    settings for a variant); a key with `objective: <entry>` in `method_settings` starts from
    that entry's; then the key's own `method_settings` apply. DiceError for an unknown key or
    a setting its method does not have.
    """
    own = dict(config.get("method_settings", {}).get(method, {}))
    base = own.pop("objective", None)
    if base == method or method in _seen:
        base = None
    if base is None and method not in REGISTRY:
        known = sorted({*REGISTRY, *config.get("method_settings", {})})
        close = difflib.get_close_matches(method, known, 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DiceError(f"unknown method {method!r}{hint}; known: {', '.join(known)}", path=source)
    if base is not None:
        root, values = resolve_method(config, base, source=source, _seen=(*_seen, method))
    elif (entry := REGISTRY[method]).base is not None:
        root, values = resolve_method(config, entry.base, source=source, _seen=(*_seen, method))
        values.update(entry.fixed)
    else:
        root, values = method, dict(REGISTRY[method].fixed)
    values.update(own)
    allowed = {f.name for f in fields(REGISTRY[root].method.settings)}
    if unknown := sorted(set(values) - allowed):
        raise DiceError(f"method {method!r} ({REGISTRY[root].method.family}) has no setting(s) "
                        f"{', '.join(unknown)}; its settings: {', '.join(sorted(allowed)) or 'none'}",
                        path=source)  # fmt: skip
    return root, values


def needs_intervened(config: Mapping, method: str) -> bool:
    """Whether a method key cannot train without intervened training data (e.g. CausE)."""
    return REGISTRY[resolve_method(config, method)[0]].method.needs_intervened


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
    """Everything that defines a model: registry entry, backbone and their settings."""

    entry: str  # the registry key whose method builds the model
    backbone: str
    backbone_settings: BackboneSettings
    settings: Any  # the method's settings dataclass

    def __post_init__(self) -> None:
        if self.entry not in REGISTRY:
            raise DiceError(f"unknown method {self.entry!r}; known: {', '.join(REGISTRY)}")
        if self.backbone not in BACKBONES:
            raise DiceError(f"unknown backbone {self.backbone!r}; known: {', '.join(BACKBONES)}")

    def with_settings(self, **changes) -> ModelConfig:
        """A copy with some of the method's settings changed."""
        return replace(self, settings=replace(self.settings, **changes))

    @property
    def method(self) -> Method:
        return REGISTRY[self.entry].method

    @property
    def dim(self) -> int:
        """Embedding size per table: two-table methods halve it for equal parameters."""
        settings = self.backbone_settings
        return settings.dual_embedding_dim if self.method.dual_table else settings.embedding_dim


@dataclass(frozen=True)
class TrainConfig:
    """A run's resolved optimiser, schedule, batching and validation settings (no defaults:
    they come from `dice.settings` through `run_settings`). `lr` is the method's own learning
    rate: the `train` key its method declares as `lr_key`."""

    batch_size: int
    negatives_per_positive: int
    lr: float
    weight_decay: float
    betas: tuple[float, float]
    amsgrad: bool
    lr_patience: int
    lr_factor: float
    min_lr: float
    es_patience: int
    max_epochs: int
    drop_last: bool
    negative_exclusion: str
    ks: tuple[int, ...]
    valid_metric: str
    eval_batch_size: int
    profile: str
    max_steps_per_epoch: int | None = None  # absent from run settings when None (ids unchanged)


def from_mapping(cls: type, values: Mapping[str, Any]):
    """Build a frozen dataclass, rejecting unknown keys with a one-line DiceError."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise DiceError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**values)


def run_settings(config: Mapping, *, method: str, backbone: str) -> dict:
    """The resolved, JSON-able settings of one run: {"method", "entry", "backbone", "model",
    "train", "analysis"}; "model" holds the method's settings, "train" its learning rate as
    ``lr`` (the train key its method declares as `lr_key`)."""
    root, values = resolve_method(config, method)
    spec = REGISTRY[root].method
    profile = config["profile"]
    train_values = {**config["train"], **config["profiles"].get(profile, {})}
    rows = train_values.pop("discrepancy_rows", None)  # the profile's default for DICE
    if rows is not None and "discrepancy_rows" in {f.name for f in fields(spec.settings)}:
        values.setdefault("discrepancy_rows", rows)
    model = spec.settings(**values)
    lr = train_values[spec.lr_key]
    for key in {m.lr_key for m in methods()}:
        train_values.pop(key, None)
    evaluation = config["evaluation"]
    train = from_mapping(
        TrainConfig,
        {**train_values, "lr": lr, "ks": evaluation["ks"], "valid_metric": evaluation["valid_metric"],
         "eval_batch_size": evaluation["batch_size"], "profile": profile},
    )  # fmt: skip
    train_settings = {k: v for k, v in asdict(train).items()
                      if v is not None or k != "max_steps_per_epoch"}  # fmt: skip
    return {"method": method, "entry": root, "backbone": {"name": backbone, **config["model"]},
            "model": asdict(model), "train": train_settings, "analysis": dict(config["analysis"])}  # fmt: skip


def parse_run_settings(settings: Mapping) -> tuple[str, ModelConfig, TrainConfig]:
    """(method key, ModelConfig, TrainConfig) of resolved run settings."""
    entry = settings["entry"]
    if entry not in REGISTRY:
        raise DiceError(f"unknown method {entry!r} in run settings; known: {', '.join(REGISTRY)}")
    backbone = dict(settings["backbone"])
    name = backbone.pop("name")
    model = ModelConfig(entry, name, from_mapping(BackboneSettings, backbone),
                        from_mapping(REGISTRY[entry].method.settings, settings["model"]))  # fmt: skip
    return settings["method"], model, from_mapping(TrainConfig, settings["train"])
