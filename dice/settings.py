"""The typed settings of the suite: every default, range and source is written here once.

Each section of a config file is a frozen dataclass; each field carries its description, the
source of its default (the paper, "DICE §x", or the authors' code, see docs/authors-code.md)
and its bounds as field metadata. `dice.schema` generates the JSON schema that validates config
files from these classes, so a YAML config only overrides. Method settings live with their
method (`dice.methods`); the built-in training profiles are `PROFILES` below.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

BackboneName = Literal["mf", "lightgcn"]
BACKBONES: tuple[str, ...] = ("mf", "lightgcn")
SOURCES = ("ml100k", "ml1m", "ml10m", "ml20m", "netflix", "synthetic", "dice-ml10m", "dice-netflix",
           "file", "yahoo_r3", "coat", "kuairec")  # fmt: skip
#: The studies a config may ask for: the runs behind each paper artefact (closed set: the report
#: rules look them up by these names).
STUDIES = ("fig4_bias", "fig5_iou", "fig6_caps", "table3_negatives", "fig7_conformity",
           "fig8a_curriculum", "discrepancy", "fig8b_shares", "disentanglement",
           "tuned")  # fmt: skip
UNSET: Any = None  # default of an optional key that has no default value (left out if absent)


def setting(default: Any = dataclasses.MISSING, *, doc: str, source: str = "", **schema) -> Any:
    """A settings field: its default, description, source and JSON-schema bounds.

    `schema` holds JSON-schema keywords (minimum, exclusiveMaximum, pattern, …); ``schema=`` a
    whole schema replacing the one derived from the type. A list/dict default is copied.
    """
    meta = {"doc": doc, "source": source, "schema": schema}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: _copy(default), metadata=meta)
    return field(default=default, metadata=meta)


def option(*, doc: str, **schema) -> Any:
    """An optional key without a default (absent unless given)."""
    return field(default=UNSET, metadata={"doc": doc, "source": "", "schema": schema, "optional": True})  # fmt: skip


def _copy(value):
    import copy

    return copy.deepcopy(value)


SHARE = {"minimum": 0, "maximum": 1}


@dataclass(frozen=True)
class PreprocessSettings:
    """Binarisation and filtering of raw ratings (docs/protocol.md)."""

    rating_threshold: float = setting(5.0, doc="keep ratings >= this value as positives",
                                      source='DICE §4.1 "ratings of five stars as one"')  # fmt: skip
    min_count: int = setting(10, doc="keep items, then users, with more than this many records",
                             source="authors' code: dps filter_cf(record, 10)", minimum=0)  # fmt: skip
    filter: Literal["one_pass", "iterative"] = setting(
        "one_pass", doc="one_pass (dps filter_cf) or iterative k-core",
        source="authors' code: dps filter_cf")  # fmt: skip
    user_fraction: float = setting(1.0, doc="seeded user down-sampling fraction (1 = all users)",
                                   source="authors' code (Netflix; fraction undocumented)",
                                   exclusiveMinimum=0, maximum=1)  # fmt: skip


@dataclass(frozen=True)
class SplitSettings:
    """The intervened (non-IID) split (docs/protocol.md)."""

    seed: int = setting(2021, doc="seed of the split (shared by all methods and run seeds)",
                        minimum=0)  # fmt: skip
    cap_mode: Literal["percentile", "probability"] = setting(
        "percentile", doc="percentile (official code) or probability (paper wording)",
        source="authors' code: dps skew_split")  # fmt: skip
    scope: Literal["global", "per_user"] = setting(
        "global", doc="sample the intervened set globally (official) or per user",
        source="authors' code: dps skew_split_v3")  # fmt: skip
    cap: float = setting(0.9, doc="cap of the inverse-popularity weights, in (0, 1]",
                         source="DICE §4.3.2", exclusiveMinimum=0, maximum=1)  # fmt: skip
    intervened_train_share: float = setting(
        0.1, doc="share of all records that go to intervened-train (0 to 0.2 in Fig. 8b)",
        source="DICE §4.1 70/10/20 split", **SHARE)  # fmt: skip
    valid_share: float = setting(0.1, doc="share of all records in validation (intervened)",
                                 source="DICE §4.1", **SHARE)  # fmt: skip
    test_share: float = setting(0.2, doc="share of all records in test (intervened)",
                                source="DICE §4.1", **SHARE)  # fmt: skip


COLUMN = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer", "minimum": 0}]}


@dataclass(frozen=True)
class FileColumns:
    """Which column of the file holds what: a header name, or a 0-based position."""

    user: str = setting(doc="the user id column", schema=COLUMN)
    item: str = setting(doc="the item id column", schema=COLUMN)
    rating: str = option(doc="the rating column (absent: set implicit)", schema=COLUMN)
    timestamp: str = option(doc="the time column: integer seconds or ISO 8601 dates (absent: "
                            "file order)", schema=COLUMN)  # fmt: skip


@dataclass(frozen=True)
class UserFile:
    """The user's own interactions file (source `file`; docs/data-sources.md)."""

    path: str = setting(doc="the file, relative to the folder snakemake runs in", minLength=1)
    columns: FileColumns = setting(doc="which column holds the user, item, rating, timestamp")
    format: Literal["csv", "tsv", "parquet"] = option(doc="the file's format (default: from its "
                                                      "extension .csv, .tsv/.tab, .parquet)")  # fmt: skip
    header: bool = option(doc="the first line names the columns (csv/tsv; default true)")
    ids: Literal["string", "integer"] = option(doc="user and item ids are strings or integers "
                                               "(default string)")  # fmt: skip
    implicit: bool = option(doc="every row is a positive (no rating threshold; default false)")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its source and options."""

    source: Literal[SOURCES] = setting(doc="where the ratings come from")  # type: ignore[valid-type]
    preset: str = option(doc="synthetic size preset (synthetic source only)")
    synthetic: dict = option(doc="simulator parameter overrides, e.g. conformity_strength")
    main_grid: bool = setting(True, doc="run the main grid and the studies that name no "
                              "datasets on this dataset")  # fmt: skip
    preprocess: PreprocessSettings = option(doc="per-dataset overrides of `preprocess`")
    file: UserFile = option(doc="the user's own interactions file (source `file` only)")


@dataclass(frozen=True)
class StudySpec:
    """The runs behind one artefact: methods × backbones × caps × shares (× seeds, datasets)."""

    methods: list[str] = option(doc="method keys")
    backbones: list[BackboneName] = option(doc="backbones (default the main grid's)")
    caps: list[float] = option(doc="split caps (default the main split's)",
                               schema={"type": "array", "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}})  # fmt: skip
    shares: list[float] = option(doc="intervened-train shares (default the main split's)",
                                 schema={"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 0.5}})  # fmt: skip
    alphas: list[float] = option(doc="initial alphas; makes dice-a<alpha>-curriculum / -normal "
                                 "variants", schema={"type": "array", "items": {"type": "number", "minimum": 0}})  # fmt: skip
    seeds: list[int] = option(doc="seeds (default the main grid's)",
                              schema={"type": "array", "items": {"type": "integer", "minimum": 0}})  # fmt: skip
    datasets: list[str] = option(doc="dataset keys (default all)")


VALUES = {"type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0}}


@dataclass(frozen=True)
class TunedTrack:
    """The equal-budget (tuned) track: every method of the study `tuned` gets `budget` grid
    points over lr × weight_decay and its own knobs (dice.tracks; docs/debiasing-methods.md)."""

    budget: int = setting(doc="grid points per method (at most |lr| × |weight_decay| × the "
                          "method's knob combinations)", minimum=1)  # fmt: skip
    lr: list[float] = setting(doc="learning rates shared by every method", schema=VALUES)
    weight_decay: list[float] = setting(doc="Adam weight decays shared by every method",
                                        schema={**VALUES, "items": {"type": "number", "minimum": 0}})  # fmt: skip
    knobs: dict = setting({}, doc="per method key of the study, a mapping of its own setting "
                          "name to the values to try", schema={"type": "object", "additionalProperties": {
                              "type": "object", "additionalProperties": {"type": "array", "minItems": 1}}})  # fmt: skip
    metric: str = setting("recall@20", doc="validation metric that selects each method's point "
                          "(the leaderboard's ranking metric)")  # fmt: skip


@dataclass(frozen=True)
class HpoSettings:
    """Hyperparameter grid search (one job per grid point, selection on validation)."""

    seed: int = setting(0, doc="seed of the grid-point runs", minimum=0)
    metric: str = setting("recall@50", doc="validation metric that selects the point",
                          source="authors' code: watch_metric")  # fmt: skip
    grids: dict = setting({}, doc="per method key, a mapping of hyperparameter name to the list "
                          "of values to try", schema={"type": "object", "additionalProperties": {
                              "type": "object", "additionalProperties": {"type": "array", "minItems": 1}}})  # fmt: skip
    tuned: TunedTrack = option(doc="the equal-budget track's grid (used by the study `tuned`)")


@dataclass(frozen=True)
class BackboneSettings:
    """Backbone settings shared by every method (the config's `model` section)."""

    embedding_dim: int = setting(128, doc="embedding size of single-table methods",
                                 source="DICE §4.1", minimum=1)  # fmt: skip
    dual_embedding_dim: int = setting(64, doc="embedding size of each table of two-table "
                                      "methods (equal parameter count)", source="DICE §4.1",
                                      minimum=1)  # fmt: skip
    lightgcn_layers: int = setting(2, doc="LightGCN propagation layers",
                                   source="authors' code: num_layers", minimum=0)  # fmt: skip
    lightgcn_self_loops: bool = setting(True, doc="add a self-loop to every node of the LightGCN "
                                        "graph", source="authors' code (not in the paper)")  # fmt: skip
    lightgcn_dropout: float = setting(0.2, doc="dropout after each LightGCN layer (training only)",
                                      source="authors' code: dropout", minimum=0,
                                      exclusiveMaximum=1)  # fmt: skip


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser, schedule and batching: the faithful profile (the authors' code)."""

    batch_size: int = setting(128, doc="positives per step", source="authors' code", minimum=1)
    negatives_per_positive: int = setting(4, doc="negatives per positive",
                                          source="authors' code: neg_sample_rate", minimum=1)  # fmt: skip
    lr: float = setting(0.01, doc="learning rate of methods that declare lr_key 'lr'",
                        source="authors' code: MF/IPS/CausE/LGN cfgs", exclusiveMinimum=0)  # fmt: skip
    lr_dice: float = setting(0.001, doc="learning rate of methods that declare lr_key 'lr_dice'",
                             source="authors' code: DICE/LGNDICE cfgs", exclusiveMinimum=0)  # fmt: skip
    discrepancy_rows: int | None = setting(
        None, doc="row budget of DICE's discrepancy for this profile: passed to the DICE "
        "setting discrepancy_rows unless method_settings sets it; null = all rows (exact)",
        schema={"type": ["integer", "null"], "minimum": 1})  # fmt: skip
    weight_decay: float = setting(5e-8, doc="Adam L2 weight decay", source="authors' code",
                                  minimum=0)  # fmt: skip
    betas: tuple[float, float] = setting((0.5, 0.99), doc="Adam betas", source="authors' code")
    amsgrad: bool = setting(True, doc="use AMSGrad", source="authors' code")
    lr_patience: int = setting(5, doc="ReduceLROnPlateau patience", source="authors' code",
                               minimum=0)  # fmt: skip
    lr_factor: float = setting(0.1, doc="ReduceLROnPlateau factor", source="authors' code (torch "
                               "default)", exclusiveMinimum=0, exclusiveMaximum=1)  # fmt: skip
    min_lr: float = setting(1e-4, doc="smallest learning rate", source="authors' code",
                            exclusiveMinimum=0)  # fmt: skip
    es_patience: int = setting(3, doc="early stop after more than this many bad epochs at min lr",
                               source="authors' code: EarlyStopManager", minimum=0)  # fmt: skip
    max_epochs: int = setting(500, doc="epoch limit", source="authors' code", minimum=1)
    max_steps_per_epoch: int | None = setting(
        None, doc="optimiser steps per epoch at most (the first ones of the shuffled epoch; "
        "a rehearsal cap, not a training choice); null = every batch of the epoch",
        schema={"type": ["integer", "null"], "minimum": 1})  # fmt: skip
    drop_last: bool = setting(True, doc="drop the last incomplete batch",
                              source="authors' code: DataLoader")  # fmt: skip
    negative_exclusion: Literal["all_train", "same_part"] = setting(
        "all_train", doc="negatives exclude all of a user's training items, or only those of the "
        "positive's part (the authors' code: same_part)")  # fmt: skip


@dataclass(frozen=True)
class EvaluationSettings:
    """Evaluation settings (docs/protocol.md)."""

    ks: list[int] = setting([20, 50], doc="cut-offs", source="DICE §4.1 Top-K 20 and 50",
                            schema={"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}})  # fmt: skip
    valid_metric: str = setting("recall@50", doc="metric that drives LR schedule, early stopping "
                                "and model selection", source="authors' code: watch_metric")  # fmt: skip
    batch_size: int = setting(2048, doc="users scored per chunk", minimum=1)


@dataclass(frozen=True)
class AnalysisSettings:
    """Constants of the analyses beyond Table 2."""

    disentangle_users: int = setting(10_000, doc="users scored by the disentanglement analysis "
                                     "on large data (seeded by the split)", minimum=1)  # fmt: skip
    counterfactual_k: int = setting(20, doc="cut-off of the counterfactual (interest-only) test",
                                    minimum=1)  # fmt: skip
    counterfactual_per_user: int = setting(10, doc="counterfactual clicks drawn per user (about "
                                           "the intervened test's size per user)", minimum=1)  # fmt: skip
    long_tail_head_share: float = setting(0.2, doc="share of the training interactions held by "
                                          "the head (most popular items first) in the long-tail "
                                          "analysis (Abdollahpouri et al.)", **SHARE)  # fmt: skip
    significance_level: float = setting(0.05, doc="significance level of the paired tests",
                                        exclusiveMinimum=0, exclusiveMaximum=1)  # fmt: skip


#: Built-in training profiles: named overrides of `train` a config can name in `profile` without
#: defining them (a config's own `profiles` entry of the same name replaces the built-in one).
PROFILES: dict[str, dict] = {
    "faithful": {},  # the authors' code settings (TrainSettings defaults)
    # 16x fewer, larger optimiser steps (batch 2048), and both learning rates 4x the authors'
    # (lr 0.04, lr_dice 0.004): the square-root scaling rule for Adam, lr x sqrt(batch ratio)
    # (Malladi et al., "On the SDEs and Scaling Rules for Adaptive Gradient Algorithms", NeurIPS
    # 2022). Scaling DICE's rate alone (lr 0.01 for the other methods) let BPR train in a
    # different regime than in faithful and flipped DICE vs BPR on ML-100K (MF seed 0). Measured
    # on ML-100K, seeds 0-2, test Recall@20 (benchmarks/results/amd-epyc-2c-gap.md): the paired
    # DICE - BPR gap of every seed lies inside the faithful gaps' 95 % interval, MF and LightGCN.
    # discrepancy_rows: None keeps the exact dCor over the whole 2048-row batch; 128 is the
    # benchmarks' dis128 variant (an official-size batch; docs/protocol.md#training-profiles).
    "fast": {
        "batch_size": 2048,
        "drop_last": False,
        "lr": 0.04,
        "lr_dice": 0.004,
        "discrepancy_rows": None,
    },
    "smoke": {"batch_size": 256},  # CI: the whole DAG in about a minute
}


def section(cls: type, *, doc: str) -> Any:
    """A config section: a settings dataclass whose own defaults fill it."""
    return field(default_factory=cls, metadata={"doc": doc, "source": "", "schema": {}})


@dataclass(frozen=True)
class SuiteSettings:
    """A config file of the suite. Unknown keys are errors (a misspelled key must not be
    silently ignored); every key not given takes the default written here."""

    datasets: dict[str, DatasetSpec] = setting(
        {"ml100k": {"source": "ml100k"}}, doc="datasets to run, by key; each names its source "
        "and options", minProperties=1, propertyNames={"pattern": "^[a-z0-9_]+$"})  # fmt: skip
    preprocess: PreprocessSettings = section(PreprocessSettings, doc="binarisation and filtering")
    split: SplitSettings = section(SplitSettings, doc="the intervened (non-IID) split")
    backbones: list[BackboneName] = setting(["mf"], doc="backbones to run every method on",
                                            minItems=1)  # fmt: skip
    methods: list[str] = setting(["none", "itempop"], doc="method keys to run (registry entries "
                                 "or keys of method_settings)", minItems=1,
                                 items={"type": "string", "pattern": "^[a-z0-9.-]+$"})  # fmt: skip
    seeds: list[int] = setting([0], doc="run seeds", minItems=1,
                               items={"type": "integer", "minimum": 0})  # fmt: skip
    profile: str = setting("faithful", doc="training profile: a built-in one (dice.settings."
                           "PROFILES) or a key of profiles")  # fmt: skip
    studies: dict[str, StudySpec] = setting({}, doc="runs behind each paper artefact (known "
                                            "study names only)")  # fmt: skip
    hpo: HpoSettings = section(HpoSettings, doc="hyperparameter grid search")
    model: BackboneSettings = section(BackboneSettings, doc="backbone settings of every method")
    method_settings: dict = setting({}, doc="per method key: settings of its method (see "
                                    "docs/methods.md); `objective` names the entry it is based on")  # fmt: skip
    train: TrainSettings = section(TrainSettings, doc="training settings of the faithful profile")
    profiles: dict[str, TrainSettings] = setting({}, doc="named overrides of the train section "
                                                 "(besides the built-in PROFILES)")  # fmt: skip
    evaluation: EvaluationSettings = section(EvaluationSettings, doc="evaluation settings")
    analysis: AnalysisSettings = section(AnalysisSettings, doc="constants of the analyses")
