# Grid search (DICE §4.1 "tuned by grid search"): one job per grid point, then a selection.
HPO_RUNS = "results/hpo/runs/{dataset}/{backbone}/{method}/p{point}"


rule hpo_point:
    input:
        unpack(main_split_inputs),
    output:
        model=f"{HPO_RUNS}/model.pt",
        metrics=f"{HPO_RUNS}/metrics.json",
    log:
        "results/logs/hpo/{dataset}/{backbone}/{method}/p{point}.log",
    benchmark:
        "results/benchmarks/hpo/{dataset}/{backbone}/{method}/p{point}.tsv"
    conda:
        "../../envs/dice.yaml"
    threads: 1
    params:
        settings=point_settings_json,
        context=point_context_json,
        seed=config["hpo"]["seed"],
        split=folder_of_input,
        out=folder_of_output,
    shell:
        "(python -m dice train --split {params.split} --settings {params.settings:q} "
        "--seed {params.seed} --out {params.out} --threads {threads} --force && "
        "python -m dice evaluate --split {params.split} --settings {params.settings:q} "
        "--seed {params.seed} --run {params.out} --context {params.context:q} "
        "--threads {threads}) > {log} 2>&1"


rule hpo_select:
    input:
        hpo_point_metrics,
    output:
        "results/hpo/{dataset}/{backbone}/{method}.json",
    log:
        "results/logs/hpo/{dataset}/{backbone}/{method}.select.log",
    conda:
        "../../envs/dice.yaml"
    params:
        config=config_path(),
    shell:
        "python -m dice hpo-select {input} --config {params.config} "
        "--method {wildcards.method} --out {output} > {log} 2>&1"
