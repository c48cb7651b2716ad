# One run = one folder results/runs/<id>/<dataset>/<split>/<backbone>/<method>/seed<n>.
RUN = "results/runs/{run}"


rule train:
    input:
        unpack(run_inputs),
    output:
        model=f"{RUN}/model.pt",
        history=f"{RUN}/history.csv",
        info=f"{RUN}/train.json",
    log:
        "results/logs/train/{run}.log",
    benchmark:
        "results/benchmarks/train/{run}.tsv"
    conda:
        "../../envs/dice.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        settings=settings_of("runs", "run", "settings"),
        hpo=hpo_option,
        seed=run_value("seed"),
        split=run_split_dir,
        out=folder_of("model"),
    shell:
        "python -m dice train --split {params.split} --settings {params.settings:q} {params.hpo} "
        "--seed {params.seed} --out {params.out} --threads {threads} --force > {log} 2>&1"


rule evaluate:
    input:
        unpack(run_inputs),
        model=rules.train.output.model,
        info=rules.train.output.info,
        truth=truth_input,
    output:
        metrics=f"{RUN}/metrics.json",
        run=f"{RUN}/run.json",
        topk=f"{RUN}/topk.parquet",
        per_user=f"{RUN}/per_user.parquet",
    log:
        "results/logs/evaluate/{run}.log",
    conda:
        "../../envs/dice.yaml"
    threads: 1
    params:
        settings=settings_of("runs", "run", "settings"),
        hpo=hpo_option,
        truth=truth_option,
        seed=run_value("seed"),
        context=context_json,
        split=run_split_dir,
        run=folder_of("metrics"),
    shell:
        "python -m dice evaluate --split {params.split} --settings {params.settings:q} {params.hpo} "
        "--seed {params.seed} --run {params.run} --context {params.context:q} {params.truth} "
        "--threads {threads} > {log} 2>&1"
