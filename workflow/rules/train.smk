# One run = one folder results/runs/<id>/<dataset>/<split>/<backbone>/<method>/seed<n>.
RUN = "results/runs/{run}"


# One job per run: `dice train --evaluate` trains, then tests the model in the same process
# (`dice evaluate` does the second half alone, for a run trained by hand).
rule train:
    input:
        unpack(run_inputs),
        truth=truth_input,
    output:
        model=f"{RUN}/model.pt",
        history=f"{RUN}/history.csv",
        info=f"{RUN}/train.json",
        metrics=f"{RUN}/metrics.json",
        run=f"{RUN}/run.json",
        topk=f"{RUN}/topk.parquet",
        per_user=f"{RUN}/per_user.parquet",
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
        truth=truth_option,
        seed=run_value("seed"),
        context=context_json,
        split=run_split_dir,
        out=folder_of("model"),
    shell:
        "python -m dice train --split {params.split} --settings {params.settings:q} {params.hpo} "
        "--seed {params.seed} --out {params.out} --threads {threads} --force --evaluate "
        "--context {params.context:q} {params.truth} > {log} 2>&1"
