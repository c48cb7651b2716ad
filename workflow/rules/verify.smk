# Reproducibility checks (docs/reproducibility.md#record-and-verify): record the metrics of a
# finished run set, verify fresh results against them, and compare Table 2 with the paper.
# These rules are about one config file, so they take its path (and write into its own folder).


rule record:
    input:
        all_metrics(),
    output:
        expected_file(),
    log:
        f"{REPORT}/logs/record.log",
    benchmark:
        f"{REPORT}/benchmarks/record.tsv"
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
        report=f"{REPORT}/verify/verify.md",
    log:
        f"{REPORT}/logs/verify.log",
    benchmark:
        f"{REPORT}/benchmarks/verify.tsv"
    conda:
        "../../envs/dice.yaml"
    params:
        config=config_path(),
    shell:
        "python -m dice verify --config {params.config} --expected {input.expected} "
        "--report {output.report} > {log} 2>&1"


rule verify_paper:
    input:
        main_metrics(),
    output:
        report=f"{REPORT}/verify/paper.md",
    log:
        f"{REPORT}/logs/verify_paper.log",
    benchmark:
        f"{REPORT}/benchmarks/verify_paper.tsv"
    conda:
        "../../envs/dice.yaml"
    params:
        config=config_path(),
    shell:
        "python -m dice verify-paper --config {params.config} --report {output.report} "
        "> {log} 2>&1"
