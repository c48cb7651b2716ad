# Reproducibility checks (README "Record and verify"): record the metrics of a finished run
# set, verify fresh results against them, and compare Table 2 with the paper.


rule record:
    input:
        all_metrics(),
    output:
        expected_file(),
    log:
        "results/logs/record.log",
    conda:
        "../../envs/dice.yaml"
    params:
        config=config_path(),
    shell:
        "python -m dice record --config {params.config} --out {output} --force > {log} 2>&1"


rule verify:
    input:
        metrics=all_metrics(),
        expected=expected_file(),
    output:
        report="results/verify/verify.md",
    log:
        "results/logs/verify.log",
    conda:
        "../../envs/dice.yaml"
    params:
        config=config_path(),
    shell:
        "python -m dice verify --config {params.config} --expected {params.expected} "
        "--report {output.report} > {log} 2>&1"


rule verify_paper:
    input:
        main_metrics(),
    output:
        report="results/verify/paper.md",
    log:
        "results/logs/verify_paper.log",
    conda:
        "../../envs/dice.yaml"
    params:
        config=config_path(),
    shell:
        "python -m dice verify-paper --config {params.config} --report {output.report} "
        "> {log} 2>&1"
