# Helpers of the report rules: which runs each artefact reads, and its output files.
import importlib.resources
import json

from dice.cli_report import STUDY, TABLES
from dice.tracks import STUDY as TUNED_STUDY

# The paper's numbers ship inside the package (dice/paper_results.yaml).
PAPER = str(importlib.resources.files("dice") / "paper_results.yaml")
REPORT_ENV = "../../envs/report.yaml"
TABLE_FILES = (".csv", ".md", ".tex", ".html")
FIGURE_FILES = (".pdf", ".png", ".csv")
DATASET_TABLES = tuple(name for name in TABLES if name != "table2")  # one per dataset
TABLES_DIR = f"{REPORT}/tables"
FIGURES_DIR = f"{REPORT}/figures"
FIGURES = tuple(name for name in STUDY if name.startswith("fig"))


def artefact_runs(artefact, dataset=None):
    """The runs (dicts) behind an artefact, of one dataset or all (cli_report.STUDY: its study,
    None for the main grid). Asked for one dataset's artefact (a rule's input), a config without
    the study or without runs of that dataset is an error that names what to add."""
    study = STUDY[artefact]
    if study is not None and study not in config["studies"]:
        if dataset is None:
            return []  # a config without this study (e.g. smoke) has no such artefact
        raise ValueError(
            f"{artefact} needs the study {study!r}, which this config does not define: add "
            f"it under `studies:` (see config/config.yaml for its usual definition)"
        )
    runs = main_runs(config) if study is None else study_runs(config, study)
    runs = [run for run in runs if dataset in (None, run["dataset"])]
    if dataset is not None and not runs:
        raise ValueError(
            f"{artefact}: the config has no runs of dataset {dataset!r} for it "
            f"(study {study or 'main grid'!r}; its datasets: {artefact_datasets(artefact)})"
        )
    return runs


def runs_of(artefact, name="metrics.json"):
    """Input function: a file of every run behind `artefact` for the wildcard's dataset."""

    def files(wildcards):
        return run_files(artefact_runs(artefact, wildcards.dataset), name)

    return files


def shown_run(artefact, dataset, method):
    """The run a t-SNE figure draws (as dice.artefacts.first_run: MF first, lowest seed)."""
    runs = [r for r in artefact_runs(artefact, dataset) if r["method"] == method]
    return min(runs, key=lambda r: (r["backbone"] != "mf", r["seed"])) if runs else None


TRAIN_FILES = ("train_normal.parquet", "train_intervened.parquet", "meta.json")


def shown_splits(artefact, dataset, methods):
    """The split stages of the runs a t-SNE figure draws."""
    runs = [shown_run(artefact, dataset, m) for m in methods]
    splits = [PLAN.get("runs", r["dir"]).split for r in runs if r is not None]
    return list({split.dir: split for split in splits}.values())


def tsne_inputs(artefact, methods):
    """Input function (for unpack): metrics.json of each drawn run, its split's training files."""

    def files(wildcards):
        runs = [shown_run(artefact, wildcards.dataset, m) for m in methods]
        splits = shown_splits(artefact, wildcards.dataset, methods)
        return {
            "metrics": run_files([r for r in runs if r is not None]),
            "split": [f"{s.dir}/{p}" for s in splits for p in TRAIN_FILES],
        }

    return files


def splits_root(splits):
    """The --splits folder of the report commands: they read <root>/<dataset>/<split>, so all
    splits an artefact reads must share one root (one split id)."""
    roots = {f"results/splits/{split.id}" for split in splits}
    if len(roots) != 1:
        raise DiceError(
            f"an artefact reads splits under {len(roots)} roots: {sorted(roots)}"
        )
    return roots.pop()


def tsne_splits_root(artefact, methods):
    return lambda wildcards: splits_root(
        shown_splits(artefact, wildcards.dataset, methods)
    )


def main_splits_root(wildcards):
    return splits_root([main_split(config, wildcards.dataset)])


def main_split_files(wildcards):
    split = main_split(config, wildcards.dataset)
    return [f"{split.dir}/{p}" for p in TRAIN_FILES]


def artefact_datasets(artefact):
    return sorted({run["dataset"] for run in artefact_runs(artefact)})


def report_targets():
    """Every table and figure file for every dataset its runs cover (for `rule all`)."""
    targets = [
        f"{TABLES_DIR}/{t}{ext}" for t in ("table1", "table2") for ext in TABLE_FILES
    ]
    for name in DATASET_TABLES:
        targets += [
            f"{TABLES_DIR}/{name}_{d}{ext}"
            for d in artefact_datasets(name)
            for ext in TABLE_FILES
        ]
    if "disentanglement" in config["studies"]:
        targets += [
            f"{TABLES_DIR}/disentanglement.md",
            f"{FIGURES_DIR}/disentanglement.pdf",
        ]
    for name in FIGURES:
        targets += [
            f"{FIGURES_DIR}/{name}_{d}{ext}"
            for d in artefact_datasets(name)
            if name != "fig5b_tsne"
            or shown_run(name, d, "dice")  # t-SNE draws DICE's tables
            for ext in FIGURE_FILES
        ]
    return targets


def table_outputs(stem, caption):
    """csv / md / tex outputs, and the HTML version in the report."""
    return {
        "csv": f"{stem}.csv",
        "md": f"{stem}.md",
        "tex": f"{stem}.tex",
        "html": report(f"{stem}.html", caption=caption, category="Tables"),
    }


def figure_outputs(name):
    stem = f"{FIGURES_DIR}/{name}_{{dataset}}"
    return {
        "pdf": f"{stem}.pdf",
        "png": report(
            f"{stem}.png",
            caption=f"../report/{name}.rst",
            category="Figures",
            subcategory="{dataset}",
        ),
        "csv": f"{stem}.csv",
    }


def conformity_strengths_json(wildcards):
    """{dataset: conformity strength} of the synthetic datasets (simulator default 1)."""
    return json.dumps(
        {
            name: d.get("synthetic", {}).get("conformity_strength", 1.0)
            for name, d in config["datasets"].items()
            if d["source"] == "synthetic"
        }
    )


def existing_report_targets(wildcards):
    """The report's tables and figures that exist now; the missing ones go to stderr."""
    files = [
        t
        for t in report_targets() + leaderboard_targets()
        if t.endswith((".html", ".png"))
    ]
    missing = [t for t in files if not os.path.exists(t)]
    if missing:
        print(f"report_existing: {len(missing)} artefact file(s) missing, left out of the "
              f"report: {', '.join(missing)}", file=sys.stderr)  # fmt: skip
    return [t for t in files if os.path.exists(t)]


# --- the leaderboard (workflow/rules/leaderboard.smk) ---
def leaderboard_runs(dataset):
    """The runs of both tracks on `dataset`: the main grid's and the study tuned's."""
    runs = main_runs(config) + study_runs(config, TUNED_STUDY)
    return [run for run in runs if run["dataset"] == dataset]


def leaderboard_files(name):
    return lambda wildcards: run_files(leaderboard_runs(wildcards.dataset), name)


def leaderboard_targets():
    """Every leaderboard file (for `rule all`); none without the study tuned."""
    if TUNED_STUDY not in config["studies"]:
        return []
    datasets = sorted({run["dataset"] for run in study_runs(config, TUNED_STUDY)})
    stems = [f"leaderboard_{dataset}" for dataset in datasets]
    return [f"{TABLES_DIR}/{s}{ext}" for s in stems for ext in TABLE_FILES] + [
        f"{FIGURES_DIR}/{s}{ext}" for s in stems for ext in FIGURE_FILES
    ]
