# Data (real or synthetic: synthetic data also holds the simulator's ground truth, truth.npz)
# and splits. Each folder's id is the hash of the settings passed here (dice.plan).
rule prepare:
    output:
        directory("results/data/{data}"),
    log:
        "results/logs/prepare/{data}.log",
    benchmark:
        "results/benchmarks/prepare/{data}.tsv"
    wildcard_constraints:
        data=f"{ID}/[a-z0-9_]+",
    conda:
        "../../envs/dice.yaml"
    params:
        settings=settings_of("data", "data"),
    shell:
        "python -m dice prepare --settings {params.settings:q} --raw-dir resources/raw "
        "--out {output} > {log} 2>&1"


SPLIT = "results/splits/{split}"


rule split:
    input:
        data=split_data,
    output:
        parts=expand("results/splits/{{split}}/{part}.parquet", part=SPLIT_PARTS),
        meta=f"{SPLIT}/meta.json",
        stats=f"{SPLIT}/stats.json",
        counterfactual=f"{SPLIT}/counterfactual.parquet",
    log:
        "results/logs/split/{split}.log",
    benchmark:
        "results/benchmarks/split/{split}.tsv"
    wildcard_constraints:
        split=f"{ID}/[a-z0-9_]+/cap[0-9.]+-share[0-9.]+(-pool[0-9.]+)?",
    conda:
        "../../envs/dice.yaml"
    params:
        settings=settings_of("splits", "split"),
        out=folder_of("meta"),
    shell:
        "python -m dice split --data {input.data} --settings {params.settings:q} "
        "--out {params.out} > {log} 2>&1"


# Parity mode: the authors' released split (ml10m.zip / netflix.zip), user-placed, read as-is.
# The archive is a parameter, not an input, so a missing one gets the suite's own message.
rule import_split:
    output:
        parts=expand("results/splits/{{split}}/{part}.parquet", part=SPLIT_PARTS),
        meta=f"{SPLIT}/meta.json",
        stats=f"{SPLIT}/stats.json",
    log:
        "results/logs/import_split/{split}.log",
    benchmark:
        "results/benchmarks/import_split/{split}.tsv"
    wildcard_constraints:
        split=f"{ID}/[a-z0-9_]+/parity",
    conda:
        "../../envs/dice.yaml"
    params:
        archive=parity_archive,
        out=folder_of("meta"),
    shell:
        "python -m dice import-split --archive {params.archive} --out {params.out} --force "
        "> {log} 2>&1"
