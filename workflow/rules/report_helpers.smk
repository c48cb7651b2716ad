# Helpers of the report rules: which runs each artefact reads, and its output files.
from dice.cli_report import STUDY

# The paper's numbers ship with the workflow (not with a run folder).
PAPER = os.path.join(workflow.basedir, "..", "dice", "paper_results.yaml")
REPORT_ENV = "../../envs/report.yaml"
TABLE_FILES = (".csv", ".md", ".tex", ".html")
FIGURE_FILES = (".pdf", ".png", ".csv")
DATASET_TABLES = ("table3", "discrepancy", "popularity_bias")
FIGURES = tuple(name for name in STUDY if name.startswith("fig"))


def artefact_runs(artefact, dataset=None):
    """The runs (dicts) behind an artefact, of one dataset or all (cli_report.STUDY: its study,
    None for the main grid)."""
    study = STUDY[artefact]
    if study is not None and study not in config["studies"]:
        return []  # a config without this study (e.g. smoke) has no such artefact
    runs = main_runs(config) if study is None else study_runs(config, study)
    return [run for run in runs if dataset in (None, run["dataset"])]


def runs_of(artefact, name="metrics.json"):
    """Input function: a file of every run behind `artefact` for the wildcard's dataset."""

    def files(wildcards):
        return run_files(artefact_runs(artefact, wildcards.dataset), name)

    return files


def shown_run(artefact, dataset, method):
    """The run a t-SNE figure draws (as dice.artefacts.first_run: MF first, lowest seed)."""
    runs = [r for r in artefact_runs(artefact, dataset) if r["method"] == method]
    return min(runs, key=lambda r: (r["backbone"] != "mf", r["seed"])) if runs else None


def tsne_inputs(artefact, methods):
    """Input function (for unpack): metrics.json of each drawn run, its split's training files."""

    def files(wildcards):
        runs = [shown_run(artefact, wildcards.dataset, m) for m in methods]
        runs = [r for r in runs if r is not None]
        splits = {f"results/splits/{r['dataset']}/{r['split']}" for r in runs}
        parts = ("train_normal.parquet", "train_intervened.parquet", "meta.json")
        return {
            "metrics": run_files(runs),
            "split": [f"{s}/{p}" for s in sorted(splits) for p in parts],
        }

    return files


def main_split_files(wildcards):
    split = f"results/splits/{wildcards.dataset}/{main_split(wildcards.dataset)}"
    return [
        f"{split}/{p}"
        for p in ("train_normal.parquet", "train_intervened.parquet", "meta.json")
    ]


def artefact_datasets(artefact):
    return sorted({run["dataset"] for run in artefact_runs(artefact)})


def report_targets():
    """Every table and figure file for every dataset its runs cover (for `rule all`)."""
    targets = [
        f"results/tables/{t}{ext}" for t in ("table1", "table2") for ext in TABLE_FILES
    ]
    for name in DATASET_TABLES:
        targets += [
            f"results/tables/{name}_{d}{ext}"
            for d in artefact_datasets(name)
            for ext in TABLE_FILES
        ]
    if "disentanglement" in config["studies"]:
        targets += [
            "results/tables/disentanglement.md",
            "results/figures/disentanglement.pdf",
        ]
    for name in FIGURES:
        targets += [
            f"results/figures/{name}_{d}{ext}"
            for d in artefact_datasets(name)
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
    stem = f"results/figures/{name}_{{dataset}}"
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
