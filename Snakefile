# `snakemake …` from the repository root. The workflow lives in workflow/ (rules, report captions,
# schema); options Snakemake needs by default (cores, rerun-incomplete) come from the default
# profile, profiles/default/config.yaml, which Snakemake reads by itself.
include: "workflow/Snakefile"


# An included file's default target does not carry over: this one builds the same as `all`.
rule default:
    default_target: True
    input:
        rules.all.input,
