# Tables and figures of the paper: one rule per artefact kind, the dataset as wildcard, written
# into this config's own folder (results/<config name>/tables, figures).
# Each rule lists exactly the result files its artefact reads, so deleting one artefact reruns
# only its rule, and calls `python -m dice <artefact>`. Outputs marked report(...) make up the
# HTML report (`snakemake --report report.html`), each with a caption from workflow/report/.
rule table1:
    input:
        stats=main_split_stats(),
        paper=PAPER,
    output:
        **table_outputs(f"{TABLES_DIR}/table1", "../report/table1.rst"),
    log:
        f"{REPORT}/logs/table1.log",
    benchmark:
        f"{REPORT}/benchmarks/table1.tsv"
    conda:
        REPORT_ENV
    params:
        tables=folder_of("csv"),
    shell:
        "python -m dice table1 {input.stats} --paper {input.paper} --out-dir {params.tables} > {log} 2>&1"


rule table2:
    input:
        metrics=main_metrics(),
        per_user=run_files(main_runs(config), "per_user.parquet"),
        paper=PAPER,
    output:
        **table_outputs(f"{TABLES_DIR}/table2", "../report/table2.rst"),
    log:
        f"{REPORT}/logs/table2.log",
    benchmark:
        f"{REPORT}/benchmarks/table2.tsv"
    conda:
        REPORT_ENV
    params:
        significance=config["analysis"]["significance_level"],
    shell:
        "python -m dice table {input.metrics} --paper {input.paper} --out {output.csv} "
        "--markdown {output.md} --latex {output.tex} --html {output.html} "
        "--significance {params.significance} > {log} 2>&1"


rule table3:
    input:
        metrics=runs_of("table3"),
        per_user=runs_of("table3", "per_user.parquet"),
        paper=PAPER,
    output:
        **table_outputs(f"{TABLES_DIR}/table3_{{dataset}}", "../report/table3.rst"),
    log:
        f"{REPORT}/logs/table3_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/table3_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        tables=folder_of("csv"),
        significance=config["analysis"]["significance_level"],
    shell:
        "python -m dice table3 {input.metrics} --dataset {wildcards.dataset} --paper {input.paper} "
        "--out-dir {params.tables} --significance {params.significance} > {log} 2>&1"


rule discrepancy:
    input:
        metrics=runs_of("discrepancy"),
        paper=PAPER,
    output:
        **table_outputs(
            f"{TABLES_DIR}/discrepancy_{{dataset}}", "../report/discrepancy.rst"
        ),
    log:
        f"{REPORT}/logs/discrepancy_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/discrepancy_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        tables=folder_of("csv"),
    shell:
        "python -m dice discrepancy {input.metrics} --dataset {wildcards.dataset} "
        "--paper {input.paper} --out-dir {params.tables} > {log} 2>&1"


rule popularity_bias:
    input:
        metrics=runs_of("popularity_bias"),
        topk=runs_of("popularity_bias", "topk.parquet"),
        split=main_split_files,
    output:
        **table_outputs(
            f"{TABLES_DIR}/popularity_bias_{{dataset}}",
            "../report/popularity_bias.rst",
        ),
    log:
        f"{REPORT}/logs/popularity_bias_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/popularity_bias_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        tables=folder_of("csv"),
        splits=main_splits_root,
        head=config["analysis"]["long_tail_head_share"],
    shell:
        "python -m dice popularity-bias {input.metrics} --dataset {wildcards.dataset} "
        "--splits {params.splits} --out-dir {params.tables} "
        "--long-tail-head {params.head} > {log} 2>&1"


rule fig4_bias:
    input:
        metrics=runs_of("fig4_bias"),
    output:
        **figure_outputs("fig4_bias"),
    log:
        f"{REPORT}/logs/fig4_bias_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/fig4_bias_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        figures=folder_of("pdf"),
    shell:
        "python -m dice figure fig4_bias {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir {params.figures} > {log} 2>&1"


rule fig5a_iou:
    input:
        metrics=runs_of("fig5a_iou"),
        topk=runs_of("fig5a_iou", "topk.parquet"),
    output:
        **figure_outputs("fig5a_iou"),
    log:
        f"{REPORT}/logs/fig5a_iou_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/fig5a_iou_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        figures=folder_of("pdf"),
    shell:
        "python -m dice figure fig5a_iou {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir {params.figures} > {log} 2>&1"


rule fig5b_tsne:
    input:
        unpack(tsne_inputs("fig5b_tsne", ["dice"])),
    output:
        **figure_outputs("fig5b_tsne"),
    log:
        f"{REPORT}/logs/fig5b_tsne_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/fig5b_tsne_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        figures=folder_of("pdf"),
        splits=tsne_splits_root("fig5b_tsne", ["dice"]),
    shell:
        "python -m dice figure fig5b_tsne {input.metrics} --dataset {wildcards.dataset} --splits {params.splits} --out-dir {params.figures} > {log} 2>&1"


rule fig6_caps:
    input:
        metrics=runs_of("fig6_caps"),
    output:
        **figure_outputs("fig6_caps"),
    log:
        f"{REPORT}/logs/fig6_caps_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/fig6_caps_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        figures=folder_of("pdf"),
    shell:
        "python -m dice figure fig6_caps {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir {params.figures} > {log} 2>&1"


rule fig7_conformity:
    input:
        unpack(tsne_inputs("fig7_conformity", ["dice", "dice-nocon"])),
    output:
        **figure_outputs("fig7_conformity"),
    log:
        f"{REPORT}/logs/fig7_conformity_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/fig7_conformity_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        figures=folder_of("pdf"),
        splits=tsne_splits_root("fig7_conformity", ["dice", "dice-nocon"]),
    shell:
        "python -m dice figure fig7_conformity {input.metrics} --dataset {wildcards.dataset} --splits {params.splits} --out-dir {params.figures} > {log} 2>&1"


rule fig8a_curriculum:
    input:
        metrics=runs_of("fig8a_curriculum"),
    output:
        **figure_outputs("fig8a_curriculum"),
    log:
        f"{REPORT}/logs/fig8a_curriculum_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/fig8a_curriculum_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        figures=folder_of("pdf"),
    shell:
        "python -m dice figure fig8a_curriculum {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir {params.figures} > {log} 2>&1"


rule fig8b_shares:
    input:
        metrics=runs_of("fig8b_shares"),
    output:
        **figure_outputs("fig8b_shares"),
    log:
        f"{REPORT}/logs/fig8b_shares_{{dataset}}.log",
    benchmark:
        f"{REPORT}/benchmarks/fig8b_shares_{{dataset}}.tsv"
    conda:
        REPORT_ENV
    params:
        figures=folder_of("pdf"),
    shell:
        "python -m dice figure fig8b_shares {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir {params.figures} > {log} 2>&1"


rule disentanglement:
    input:
        study_metrics("disentanglement"),
    output:
        **table_outputs(
            f"{TABLES_DIR}/disentanglement", "../report/disentanglement.rst"
        ),
        pdf=f"{FIGURES_DIR}/disentanglement.pdf",
        png=report(
            f"{FIGURES_DIR}/disentanglement.png",
            caption="../report/disentanglement.rst",
            category="Figures",
        ),
    log:
        f"{REPORT}/logs/disentanglement.log",
    benchmark:
        f"{REPORT}/benchmarks/disentanglement.tsv"
    conda:
        REPORT_ENV
    params:
        tables=folder_of("csv"),
        figures=folder_of("pdf"),
        strengths=conformity_strengths_json,
    shell:
        "python -m dice disentanglement {input} --strengths {params.strengths:q} "
        "--out-dir {params.tables} --figures-dir {params.figures} > {log} 2>&1"
