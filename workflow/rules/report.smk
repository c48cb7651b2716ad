rule table2:
    input:
        main_metrics(),
    output:
        csv="results/tables/table2.csv",
        md="results/tables/table2.md",
    log:
        "results/logs/report/table2.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m dice table {input} --out {output.csv} --markdown {output.md} > {log} 2>&1"
