# Tables and figures of the paper (SPEC §5): one rule per artefact kind, the dataset as wildcard.
# Each rule lists exactly the result files its artefact reads, so deleting one artefact reruns
# only its rule, and calls `python -m dice <artefact>`. Outputs marked report(...) make up the
# HTML report (`snakemake --report report.html`), each with a caption from workflow/report/.
rule table1:
    input:
        stats=main_split_stats(),
        paper=PAPER,
    output:
        **table_outputs("results/tables/table1", "../report/table1.rst"),
    log:
        "results/logs/report/table1.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice table1 {input.stats} --paper {input.paper} --out-dir results/tables > {log} 2>&1"


rule table2:
    input:
        metrics=main_metrics(),
        per_user=run_files(main_runs(config), "per_user.parquet"),
        paper=PAPER,
    output:
        **table_outputs("results/tables/table2", "../report/table2.rst"),
    log:
        "results/logs/report/table2.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice table {input.metrics} --paper {input.paper} --out {output.csv} "
        "--markdown {output.md} --latex {output.tex} --html {output.html} > {log} 2>&1"


rule table3:
    input:
        metrics=runs_of("table3"),
        per_user=runs_of("table3", "per_user.parquet"),
        paper=PAPER,
    output:
        **table_outputs("results/tables/table3_{dataset}", "../report/table3.rst"),
    log:
        "results/logs/report/table3_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice table3 {input.metrics} --dataset {wildcards.dataset} --paper {input.paper} "
        "--out-dir results/tables > {log} 2>&1"


rule discrepancy:
    input:
        metrics=runs_of("discrepancy"),
        paper=PAPER,
    output:
        **table_outputs(
            "results/tables/discrepancy_{dataset}", "../report/discrepancy.rst"
        ),
    log:
        "results/logs/report/discrepancy_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice discrepancy {input.metrics} --dataset {wildcards.dataset} "
        "--paper {input.paper} --out-dir results/tables > {log} 2>&1"


rule popularity_bias:
    input:
        metrics=runs_of("popularity_bias"),
        topk=runs_of("popularity_bias", "topk.parquet"),
        split=main_split_files,
    output:
        **table_outputs(
            "results/tables/popularity_bias_{dataset}", "../report/popularity_bias.rst"
        ),
    log:
        "results/logs/report/popularity_bias_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice popularity-bias {input.metrics} --dataset {wildcards.dataset} "
        "--splits results/splits --out-dir results/tables > {log} 2>&1"


rule fig4_bias:
    input:
        metrics=runs_of("fig4_bias"),
    output:
        **figure_outputs("fig4_bias"),
    log:
        "results/logs/report/fig4_bias_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice figure fig4_bias {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir results/figures > {log} 2>&1"


rule fig5a_iou:
    input:
        metrics=runs_of("fig5a_iou"),
        topk=runs_of("fig5a_iou", "topk.parquet"),
    output:
        **figure_outputs("fig5a_iou"),
    log:
        "results/logs/report/fig5a_iou_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice figure fig5a_iou {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir results/figures > {log} 2>&1"


rule fig5b_tsne:
    input:
        unpack(tsne_inputs("fig5b_tsne", ["dice"])),
    output:
        **figure_outputs("fig5b_tsne"),
    log:
        "results/logs/report/fig5b_tsne_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice figure fig5b_tsne {input.metrics} --dataset {wildcards.dataset} --splits results/splits --out-dir results/figures > {log} 2>&1"


rule fig6_caps:
    input:
        metrics=runs_of("fig6_caps"),
    output:
        **figure_outputs("fig6_caps"),
    log:
        "results/logs/report/fig6_caps_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice figure fig6_caps {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir results/figures > {log} 2>&1"


rule fig7_conformity:
    input:
        unpack(tsne_inputs("fig7_conformity", ["dice", "dice-nocon"])),
    output:
        **figure_outputs("fig7_conformity"),
    log:
        "results/logs/report/fig7_conformity_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice figure fig7_conformity {input.metrics} --dataset {wildcards.dataset} --splits results/splits --out-dir results/figures > {log} 2>&1"


rule fig8a_curriculum:
    input:
        metrics=runs_of("fig8a_curriculum"),
    output:
        **figure_outputs("fig8a_curriculum"),
    log:
        "results/logs/report/fig8a_curriculum_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice figure fig8a_curriculum {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir results/figures > {log} 2>&1"


rule fig8b_shares:
    input:
        metrics=runs_of("fig8b_shares"),
    output:
        **figure_outputs("fig8b_shares"),
    log:
        "results/logs/report/fig8b_shares_{dataset}.log",
    conda:
        REPORT_ENV
    shell:
        "python -m dice figure fig8b_shares {input.metrics} --dataset {wildcards.dataset} "
        "--out-dir results/figures > {log} 2>&1"


rule disentanglement:
    input:
        study_metrics("disentanglement"),
    output:
        **table_outputs(
            "results/tables/disentanglement", "../report/disentanglement.rst"
        ),
        pdf="results/figures/disentanglement.pdf",
        png=report(
            "results/figures/disentanglement.png",
            caption="../report/disentanglement.rst",
            category="Figures",
        ),
    log:
        "results/logs/report/disentanglement.log",
    conda:
        REPORT_ENV
    params:
        strengths=conformity_strengths_json,
    shell:
        "python -m dice disentanglement {input} --strengths {params.strengths:q} "
        "--out-dir results/tables --figures-dir results/figures > {log} 2>&1"
