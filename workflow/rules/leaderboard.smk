# The leaderboard (dice.leaderboard, docs/debiasing-methods.md#the-tuned-track): the faithful
# track (the main grid) and the tuned track (the study `tuned`, dice.tracks) of one dataset,
# ranked per backbone, into this config's own folder. Only a config with the study has it.
rule leaderboard:
    input:
        metrics=leaderboard_files("metrics.json"),
        per_user=leaderboard_files("per_user.parquet"),
        topk=leaderboard_files("topk.parquet"),
        split=main_split_files,
    output:
        **table_outputs(
            f"{TABLES_DIR}/leaderboard_{{dataset}}", "../report/leaderboard.rst"
        ),
        pdf=f"{FIGURES_DIR}/leaderboard_{{dataset}}.pdf",
        png=report(
            f"{FIGURES_DIR}/leaderboard_{{dataset}}.png",
            caption="../report/leaderboard.rst",
            category="Figures",
            subcategory="{dataset}",
        ),
        figure_csv=f"{FIGURES_DIR}/leaderboard_{{dataset}}.csv",
    log:
        f"{REPORT}/logs/leaderboard_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/leaderboard_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        tables=folder_of("csv"),
        figures=folder_of("pdf"),
        splits=main_splits_root,
        budget=lambda wildcards: config["hpo"]["tuned"]["budget"],
        metric=lambda wildcards: config["hpo"]["tuned"]["metric"],
        significance=config["analysis"]["significance_level"],
        head=config["analysis"]["long_tail_head_share"],
    shell:
        "python -m dice leaderboard {input.metrics} --dataset {wildcards.dataset} "
        "--splits {params.splits} --budget {params.budget} --metric {params.metric} "
        "--significance {params.significance} --long-tail-head {params.head} "
        "--out-dir {params.tables} --figures-dir {params.figures} > {log} 2>&1"
