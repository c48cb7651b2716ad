rule prepare:
    output:
        interactions="results/data/{dataset}/interactions.parquet",
        meta="results/data/{dataset}/meta.json",
    log:
        "results/logs/prepare/{dataset}.log",
    params:
        config=config_path(),
    conda:
        "../../envs/dice.yaml"
    shell:
        "python -m dice prepare --config {params.config} --dataset {wildcards.dataset} "
        "--raw-dir resources/raw --out results/data/{wildcards.dataset} > {log} 2>&1"


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
    log:
        "results/logs/split/{dataset}/{split}.log",
    params:
        config=config_path(),
        cap=split_cap,
        share=split_share,
    conda:
        "../../envs/dice.yaml"
    shell:
        "python -m dice split --config {params.config} --data results/data/{wildcards.dataset} "
        "--cap {params.cap} --share {params.share} "
        "--out results/splits/{wildcards.dataset}/{wildcards.split} > {log} 2>&1"
