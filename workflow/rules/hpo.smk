# Grid search (DICE §4.1 "tuned by grid search"): one job per grid point, then a selection.
# The tuned track's <method>-tuned keys (dice.tracks) search here too, their grid derived from
# hpo.tuned and selected on hpo.tuned.metric (the search's settings carry the metric).
# results/hpo/<id>/<dataset>/<split>/<backbone>/<method>/p<i>: one point (its own id);
# results/hpo/<id>/<dataset>/<split>/<backbone>/<method>/selection.json: the search's choice.
POINT = "results/hpo/{point}"


rule hpo_point:
    input:
        unpack(point_inputs),
    output:
        model=f"{POINT}/model.pt",
        metrics=f"{POINT}/metrics.json",
    log:
        "results/logs/hpo/{point}.log",
    benchmark:
        "results/benchmarks/hpo/{point}.tsv"
    conda:
        "../../envs/dice.yaml"
    threads: 1
    params:
        settings=settings_of("points", "point", "settings"),
        context=point_context_json,
        seed=point_seed,
        split=point_split_dir,
        out=folder_of("model"),
    shell:
        "python -m dice train --split {params.split} --settings {params.settings:q} "
        "--seed {params.seed} --out {params.out} --threads {threads} --force --evaluate "
        "--context {params.context:q} > {log} 2>&1"


rule hpo_select:
    input:
        search_points,
    output:
        "results/hpo/{search}/selection.json",
    log:
        "results/logs/hpo/{search}.select.log",
    benchmark:
        "results/benchmarks/hpo/{search}.select.tsv"
    conda:
        "../../envs/dice.yaml"
    params:
        settings=settings_of("searches", "search"),
    shell:
        "python -m dice hpo-select {input} --settings {params.settings:q} --out {output} "
        "> {log} 2>&1"
