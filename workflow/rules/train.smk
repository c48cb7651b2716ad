rule train:
    input:
        split=rules.split.output.parts,
        meta=rules.split.output.meta,
        hpo=hpo_selection,
    output:
        model=f"{RUNS}/model.pt",
        history=f"{RUNS}/history.csv",
        info=f"{RUNS}/train.json",
    log:
        "results/logs/train/{dataset}/{split}/{backbone}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{split}/{backbone}/{method}/seed{seed}.tsv"
    conda:
        "../../envs/dice.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        settings=settings_json,
        hpo=hpo_option,
        split=folder_of_input,
        out=folder_of_output,
    shell:
        "python -m dice train --split {params.split} --settings {params.settings:q} {params.hpo} "
        "--seed {wildcards.seed} --out {params.out} --threads {threads} --force > {log} 2>&1"


rule evaluate:
    input:
        model=rules.train.output.model,
        info=rules.train.output.info,
        split=rules.split.output.parts,
        meta=rules.split.output.meta,
        hpo=hpo_selection,
        truth=truth_input,
    output:
        metrics=f"{RUNS}/metrics.json",
        run=f"{RUNS}/run.json",
        topk=f"{RUNS}/topk.parquet",
        per_user=f"{RUNS}/per_user.parquet",
    log:
        "results/logs/evaluate/{dataset}/{split}/{backbone}/{method}/seed{seed}.log",
    conda:
        "../../envs/dice.yaml"
    threads: 1
    params:
        settings=settings_json,
        hpo=hpo_option,
        truth=truth_option,
        context=context_json,
        split=folder_of_input,
        run=run_folder_of_input,
    shell:
        "python -m dice evaluate --split {params.split} --settings {params.settings:q} {params.hpo} "
        "--seed {wildcards.seed} --run {params.run} --context {params.context:q} {params.truth} "
        "--threads {threads} > {log} 2>&1"
