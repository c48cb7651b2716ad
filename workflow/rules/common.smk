# Helpers of the workflow: config validation, and look-ups in the config's plan. Every folder and
# every list of runs comes from dice.plan (the one place that derives them; docs/results-layout.md):
#   results/data/<id>/<dataset>/                     results/splits/<id>/<dataset>/<split>/
#   results/hpo/<id>/<dataset>/<split>/<backbone>/<method>[/p<i>]
#   results/runs/<id>/<dataset>/<split>/<backbone>/<method>/seed<n>/
#   results/<config name>/tables, figures, verify (one folder per config file)
# A rule gets the resolved settings of its stage as JSON parameters, never the config file.
import os

from dice.config import validate_config
from dice.data.parity import archive_path
from dice.errors import DiceError
from dice.hpo import grid_points
from dice.plan import (
    ID_LENGTH,
    SPLIT_PARTS,
    Plan,
    canonical,
    main_runs,
    main_split,
    report_dir,
    run_dir,
    study_runs,
)


def config_path():
    return workflow.configfiles[-1] if workflow.configfiles else "config/config.yaml"


try:
    config = validate_config(config, source=config_path())
    for _method in config["hpo"]["grids"]:
        grid_points(config, _method)
    PLAN = Plan(config)
    REPORT = report_dir(config_path())  # this config's tables, figures and checks
except DiceError as err:
    sys.exit(f"error: {err}")

DATASETS = list(config["datasets"])
ID = f"[0-9a-f]{{{ID_LENGTH}}}"
STUDIES = list(config["studies"])


def run_files(runs, name="metrics.json"):
    """A file of each run folder (runs: dicts of dice.plan)."""
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
    return run_files(r.run for r in PLAN.runs.values())


def all_targets():
    """Everything the default target builds (every run, split statistics, tables, figures)."""
    return [*main_split_stats(), *all_metrics(), *report_targets()]


def main_split_stats():
    """stats.json of every dataset's main split (Table 1)."""
    return [f"{main_split(config, d).dir}/stats.json" for d in DATASETS]


# --- look-ups by wildcard (each rule's wildcard is a folder path below results/<kind>/) ---------


def settings_of(kind, wildcard, part=None):
    """Params function: the resolved settings of the stage at the wildcard's folder (JSON)."""

    def settings(wildcards):
        stage = PLAN.get(kind, wildcards[wildcard])
        stage = stage[0] if isinstance(stage, tuple) else getattr(stage, "stage", stage)
        return canonical(stage.settings[part] if part else stage.settings)

    return settings


def split_files(split):
    """The parts and metadata of a split stage (what training reads)."""
    return {
        "split": [f"{split.dir}/{p}.parquet" for p in SPLIT_PARTS],
        "meta": f"{split.dir}/meta.json",
    }


def split_data(wildcards):
    """The data folder a split is made from."""
    return PLAN.data_of(PLAN.get("splits", wildcards.split)).dir


def parity_archive(wildcards):
    """Where the user places the authors' archive of a parity dataset."""
    split = PLAN.get("splits", wildcards.split)
    dataset = split.settings["dataset"]
    return str(archive_path(split.settings["parity"], f"resources/raw/{dataset}"))


def run_inputs(wildcards):
    """A run's split files and its grid search's selection (if any)."""
    planned = PLAN.get("runs", wildcards.run)
    inputs = split_files(planned.split)
    inputs["hpo"] = [f"{planned.search.dir}/selection.json"] if planned.search else []
    return inputs


def truth_input(wildcards):
    """The data folder of a synthetic run (its truth.npz: the simulator's ground truth)."""
    data = PLAN.data_of(PLAN.get("runs", wildcards.run).split)
    synthetic = data is not None and data.settings["entry"]["source"] == "synthetic"
    return [data.dir] if synthetic else []


def run_value(key):
    """Params function: a key of the run's logical identity (e.g. its seed)."""
    return lambda wildcards: PLAN.get("runs", wildcards.run).run[key]


def run_split_dir(wildcards):
    return PLAN.get("runs", wildcards.run).split.dir


def context_json(wildcards):
    run = PLAN.get("runs", wildcards.run).run
    return canonical(
        {k: run[k] for k in ("dataset", "split", "backbone", "method", "seed")}
    )


def hpo_option(wildcards, input):
    return f"--hpo {input.hpo}" if input.hpo else ""


def truth_option(wildcards, input):
    return f"--truth {input.truth}/truth.npz" if input.truth else ""


def point_inputs(wildcards):
    _, search = PLAN.get("points", wildcards.point)
    return split_files(PLAN.split_of_search(search))


def point_split_dir(wildcards):
    _, search = PLAN.get("points", wildcards.point)
    return PLAN.split_of_search(search).dir


def point_context_json(wildcards):
    point, search = PLAN.get("points", wildcards.point)
    dataset, split, backbone, method = search.name.split("/")
    context = {
        "dataset": dataset,
        "split": split,
        "backbone": backbone,
        "method": method,
        "seed": search.settings["seed"],
        "hpo_point": point.settings["point"],
    }
    return canonical(context)


def point_seed(wildcards):
    return PLAN.get("points", wildcards.point)[1].settings["seed"]


def search_points(wildcards):
    search = PLAN.get("searches", wildcards.search)
    return [f"{p.dir}/metrics.json" for p in PLAN.points_of(search)]


def folder_of(name):
    """Params function: the folder of the rule's output `name`."""
    return lambda wildcards, output: os.path.dirname(output[name])


def expected_file():
    """expected/<config name>.json, the recorded results of this config."""
    return f"expected/{os.path.splitext(os.path.basename(config_path()))[0]}.json"
