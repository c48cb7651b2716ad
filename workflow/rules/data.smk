rule prepare:
    output:
        interactions="results/data/{dataset}/interactions.parquet",
        meta="results/data/{dataset}/meta.json",
    log:
        "results/logs/prepare/{dataset}.log",
    wildcard_constraints:
        dataset=dataset_pattern(synthetic=False),
    conda:
        "../../envs/dice.yaml"
    params:
        config=config_path(),
        out=folder_of_output,
    shell:
        "python -m dice prepare --config {params.config} --dataset {wildcards.dataset} "
        "--raw-dir resources/raw --out {params.out} > {log} 2>&1"


# Synthetic data also has the simulator's ground truth (interest and conformity of every pair).
rule prepare_synthetic:
    output:
        interactions="results/data/{dataset}/interactions.parquet",
        meta="results/data/{dataset}/meta.json",
        truth="results/data/{dataset}/truth.npz",
    log:
        "results/logs/prepare/{dataset}.log",
    wildcard_constraints:
        dataset=dataset_pattern(synthetic=True),
    conda:
        "../../envs/dice.yaml"
    params:
        config=config_path(),
        out=folder_of_output,
    shell:
        "python -m dice prepare --config {params.config} --dataset {wildcards.dataset} "
        "--raw-dir resources/raw --out {params.out} > {log} 2>&1"


rule split:
    input:
        interactions="results/data/{dataset}/interactions.parquet",
        meta="results/data/{dataset}/meta.json",
    output:
        parts=expand(
            "results/splits/{{dataset}}/{{split}}/{part}.parquet",
            part=["train_normal", "train_intervened", "valid", "test"],
        ),
        meta="results/splits/{dataset}/{split}/meta.json",
        stats="results/splits/{dataset}/{split}/stats.json",
        counterfactual="results/splits/{dataset}/{split}/counterfactual.parquet",
    log:
        "results/logs/split/{dataset}/{split}.log",
    conda:
        "../../envs/dice.yaml"
    params:
        config=config_path(),
        cap=split_cap,
        data_share=split_share,
        data=folder_of_input,
        out=folder_of_output,
    shell:
        "python -m dice split --config {params.config} --data {params.data} "
        "--cap {params.cap} --share {params.data_share} --out {params.out} > {log} 2>&1"


# Parity mode: the authors' released split (ml10m.zip / netflix.zip), user-placed, read as-is.
# The archive is a parameter, not an input, so a missing one gets the suite's own message.
rule import_split:
    output:
        parts=expand(
            "results/splits/{{dataset}}/parity/{part}.parquet",
            part=["train_normal", "train_intervened", "valid", "test"],
        ),
        meta="results/splits/{dataset}/parity/meta.json",
        stats="results/splits/{dataset}/parity/stats.json",
    log:
        "results/logs/import_split/{dataset}.log",
    conda:
        "../../envs/dice.yaml"
    params:
        archive=parity_archive,
        out=folder_of_output,
    shell:
        "python -m dice import-split --archive {params.archive} --out {params.out} --force "
        "> {log} 2>&1"
