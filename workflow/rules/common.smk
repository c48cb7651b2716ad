# Helpers of the workflow: config validation, target lists, run settings. No logic that
# belongs to the package: it calls dice.config for everything about settings.
import json

from dice.config import run_settings, split_id, validate_config
from dice.errors import DiceError

try:
    config = validate_config(config, source="config")
except DiceError as err:
    sys.exit(f"error: {err}")

DATASETS = list(config["datasets"])
MAIN_SPLIT = split_id(config["split"])
RUNS = "results/runs/{dataset}/{split}/{backbone}/{method}/seed{seed}"


wildcard_constraints:
    dataset="[a-z0-9_]+",
    split=r"cap[0-9.]+-share[0-9.]+",
    backbone="mf|lightgcn",
    method="[a-z0-9-]+",
    seed=r"\d+",


def run_dirs(datasets=None, splits=None, backbones=None, methods=None, seeds=None):
    """Run folders of a grid (defaults: the config's main grid)."""
    return expand(
        RUNS,
        dataset=datasets or DATASETS,
        split=splits or [MAIN_SPLIT],
        backbone=backbones or config["backbones"],
        method=methods or config["methods"],
        seed=seeds or config["seeds"],
    )


def main_metrics():
    return [f"{run}/metrics.json" for run in run_dirs()]


def all_targets():
    return [
        "results/tables/table2.csv",
        "results/tables/table2.md",
        *expand("results/splits/{dataset}/{split}/stats.json", dataset=DATASETS, split=MAIN_SPLIT),
    ]


def split_value(wildcards, name):
    cap, share = wildcards.split.removeprefix("cap").split("-share")
    return {"cap": cap, "share": share}[name]


def split_cap(wildcards):
    return split_value(wildcards, "cap")


def split_share(wildcards):
    return split_value(wildcards, "share")


def settings_json(wildcards):
    """The resolved settings of one run, passed to the CLI (params: a change reruns the run)."""
    settings = run_settings(config, method=wildcards.method, backbone=wildcards.backbone)
    return json.dumps(settings, sort_keys=True)


def context_json(wildcards):
    keys = ("dataset", "split", "backbone", "method", "seed")
    context = {key: getattr(wildcards, key) for key in keys}
    context["seed"] = int(context["seed"])
    return json.dumps(context, sort_keys=True)


def config_path():
    return workflow.configfiles[-1] if workflow.configfiles else "config/config.yaml"
