# Helpers of the workflow: config validation, target lists, run settings. No logic that
# belongs to the package: it calls dice.config for everything about settings.
import json
import os

from dice.config import (
    all_runs,
    main_runs,
    main_split_id,
    run_dir,
    run_settings,
    split_id,
    study_runs,
    validate_config,
)
from dice.errors import DiceError
from dice.data.parity import archive_path
from dice.hpo import apply_overrides, grid_points

try:
    config = validate_config(config, source="config")
    for _method in config["hpo"]["grids"]:
        grid_points(config, _method)
except DiceError as err:
    sys.exit(f"error: {err}")

DATASETS = list(config["datasets"])


def main_split(dataset):
    """The main split of a dataset (the config's, or "parity" for the authors' archives)."""
    return main_split_id(config, dataset)


RUNS = "results/runs/{dataset}/{split}/{backbone}/{method}/seed{seed}"


STUDIES = list(config["studies"])


def run_files(runs, name="metrics.json"):
    """A file of each run folder (runs: dicts with dataset/split/backbone/method/seed)."""
    return [f"{run_dir(run)}/{name}" for run in runs]


def main_metrics():
    """metrics.json of every run of the main grid (Table 2)."""
    return run_files(main_runs(config))


def study_metrics(study, dataset=None, name="metrics.json"):
    """A file of every run of a study (none if the config has no such study), optionally of one
    dataset only."""
    runs = study_runs(config, study) if study in config["studies"] else []
    return run_files([r for r in runs if dataset in (None, r["dataset"])], name)


def all_metrics():
    return run_files(all_runs(config))


def all_targets():
    """Everything the default target builds (every run, split statistics, tables, figures)."""
    return [
        "results/tables/table2.csv",
        "results/tables/table2.md",
        *main_split_stats(),
        *all_metrics(),
        *report_targets(),
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
    settings = run_settings(
        config, method=wildcards.method, backbone=wildcards.backbone
    )
    return json.dumps(settings, sort_keys=True)


def dataset_pattern(synthetic):
    """A wildcard pattern matching the config's synthetic (or real) dataset keys."""
    names = [
        n
        for n, d in config["datasets"].items()
        if (d["source"] == "synthetic") == synthetic
    ]
    return "|".join(names) if names else "(?!)"


def main_split_stats():
    """stats.json of every dataset's main split (Table 1)."""
    return [f"results/splits/{d}/{main_split(d)}/stats.json" for d in DATASETS]


def parity_archive(wildcards):
    """Where the user places the authors' archive of a parity dataset."""
    source = config["datasets"][wildcards.dataset]["source"]
    return str(archive_path(source, f"resources/raw/{wildcards.dataset}"))


def truth_input(wildcards):
    """The simulator's ground truth of a synthetic dataset ([] for real data)."""
    if config["datasets"][wildcards.dataset]["source"] != "synthetic":
        return []
    return [f"results/data/{wildcards.dataset}/truth.npz"]


def truth_option(wildcards, input):
    return f"--truth {input.truth}" if input.truth else ""


def hpo_selection(wildcards):
    """The grid-search selection a run depends on ([] when its method has no grid)."""
    if not grid_points(config, wildcards.method):
        return []
    return [
        f"results/hpo/{wildcards.dataset}/{wildcards.backbone}/{wildcards.method}.json"
    ]


def hpo_option(wildcards, input):
    return f"--hpo {input.hpo}" if input.hpo else ""


def main_split_inputs(wildcards):
    """The main split's parts and metadata of a dataset (grid points train on it)."""
    folder = f"results/splits/{wildcards.dataset}/{main_split(wildcards.dataset)}"
    parts = ["train_normal", "train_intervened", "valid", "test"]
    return {
        "parts": [f"{folder}/{p}.parquet" for p in parts],
        "meta": f"{folder}/meta.json",
    }


def hpo_point_metrics(wildcards):
    points = grid_points(config, wildcards.method)
    prefix = (
        f"results/hpo/runs/{wildcards.dataset}/{wildcards.backbone}/{wildcards.method}"
    )
    return [f"{prefix}/p{index}/metrics.json" for index in range(len(points))]


def point_settings_json(wildcards):
    settings = run_settings(
        config, method=wildcards.method, backbone=wildcards.backbone
    )
    point = grid_points(config, wildcards.method)[int(wildcards.point)]
    return json.dumps(apply_overrides(settings, point), sort_keys=True)


def point_context_json(wildcards):
    context = {
        "dataset": wildcards.dataset,
        "split": main_split(wildcards.dataset),
        "backbone": wildcards.backbone,
        "method": wildcards.method,
        "seed": config["hpo"]["seed"],
        "hpo_point": int(wildcards.point),
    }
    return json.dumps(context, sort_keys=True)


def context_json(wildcards):
    keys = ("dataset", "split", "backbone", "method", "seed")
    context = {key: getattr(wildcards, key) for key in keys}
    context["seed"] = int(context["seed"])
    return json.dumps(context, sort_keys=True)


def folder_of_input(wildcards, input):
    """The folder of the rule's `meta` input (a split folder)."""
    return os.path.dirname(input.meta)


def folder_of_output(wildcards, output):
    """The folder of the rule's first output (a run or split folder)."""
    return os.path.dirname(output[0])


def run_folder_of_input(wildcards, input):
    return os.path.dirname(input.model)


def expected_file():
    """expected/<config name>.json, the recorded results of this config."""
    return f"expected/{os.path.splitext(os.path.basename(config_path()))[0]}.json"


def config_path():
    return workflow.configfiles[-1] if workflow.configfiles else "config/config.yaml"
