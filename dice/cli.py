"""`python -m dice` / `dice`: one subcommand per stage; parse → call `dice.runs` → write files.

A `DiceError` (bad input) is printed as one line, ``error: …``, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from dice.errors import DiceError


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DiceError("--device cuda was asked for, but torch sees no CUDA device")
    return name


def _settings(args: argparse.Namespace) -> dict:
    """Run settings from --settings JSON, or resolved from --config/--method/--backbone."""
    from dice.config import load_config, run_settings
    from dice.hpo import apply_overrides, chosen_overrides

    if args.settings:
        try:
            settings = json.loads(args.settings)
        except json.JSONDecodeError as err:
            raise DiceError(f"--settings is not valid JSON ({err.msg})") from None
    elif args.config and args.method and args.backbone:
        settings = run_settings(
            load_config(args.config), method=args.method, backbone=args.backbone
        )
    else:
        raise DiceError("give --settings JSON, or --config with --method and --backbone")
    if args.hpo:  # the grid search's chosen point for this (dataset, backbone, method)
        settings = apply_overrides(settings, chosen_overrides(args.hpo))
    return settings


def _setup(args: argparse.Namespace) -> None:
    import torch

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    if args.command in ("train", "evaluate"):
        from dice.process import deterministic_kernels, tune_allocator

        tune_allocator()
        if args.command == "train":  # as the trainer always ran: bit-identical CPU reruns
            deterministic_kernels(_device(args.device))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )


def _json_option(text: str, option: str, keys: tuple[str, ...] = ()) -> dict:
    """A JSON object given on the command line, with `keys` present."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise DiceError(f"{option} is not valid JSON ({err.msg})") from None
    missing = [k for k in keys if not isinstance(value, dict) or k not in value]
    if missing:
        raise DiceError(f"{option} lacks {', '.join(missing)} (`dice plan --settings` shows them)")
    return value


DATA_KEYS = ("dataset", "entry", "preprocess", "seed")  # of dice.plan.data_stage's settings


def cmd_prepare(args: argparse.Namespace) -> None:
    from dice.runs import prepare_dataset

    if args.settings:
        settings = _json_option(args.settings, "--settings", DATA_KEYS)
    elif args.config and args.dataset:
        from dice.config import load_config
        from dice.plan import data_stage

        config = load_config(args.config)
        if args.dataset not in config["datasets"]:
            raise DiceError(f"unknown dataset {args.dataset!r}; the config defines: "
                            f"{', '.join(config['datasets'])}", path=args.config)  # fmt: skip
        settings = data_stage(config, args.dataset).settings
    else:
        raise DiceError("give --settings JSON, or --config with --dataset")
    stats = prepare_dataset(settings["dataset"], settings["entry"], settings["preprocess"],
                            raw_dir=args.raw_dir, out=args.out, seed=settings["seed"],
                            file_sha256=settings.get("file_sha256"))  # fmt: skip
    print(json.dumps(stats))


def cmd_split(args: argparse.Namespace) -> None:
    from dice.runs import split_dataset

    extra = {}
    if args.settings:
        settings = _json_option(args.settings, "--settings", ("split",))
        options = settings["split"]
        if "counterfactual_per_user" in settings:
            extra["counterfactual_per_user"] = settings["counterfactual_per_user"]
    elif args.config:
        from dice.config import load_config
        from dice.plan import split_options

        config = load_config(args.config)
        options = split_options(config, cap=args.cap, share=args.share)
        extra["counterfactual_per_user"] = config["analysis"]["counterfactual_per_user"]
    else:
        raise DiceError("give --settings JSON, or --config")
    stats = split_dataset(args.data, options, out=args.out, **extra)
    print(json.dumps({k: stats[k] for k in ("users", "items", "interactions", "entropy")}))


def cmd_train(args: argparse.Namespace) -> None:
    from dice.runs import train_run

    if (args.context or args.truth) and not args.evaluate:
        raise DiceError("dice train: --context and --truth describe the test, which only "
                        "--evaluate runs; add --evaluate or drop them")  # fmt: skip
    settings, device = _settings(args), _device(args.device)
    info = train_run(args.split, settings, seed=args.seed, out=args.out, device=device,
                     force=args.force)  # fmt: skip
    print(json.dumps(info))
    if args.evaluate:  # the workflow's one job per run: no second start-up, no second load
        _evaluate(args, settings, device, run_dir=args.out)


def _evaluate(args: argparse.Namespace, settings: dict, device: str, *, run_dir: Path) -> None:
    from dice.runs import evaluate_run

    context = json.loads(args.context) if args.context else {}
    metrics = evaluate_run(args.split, settings, seed=args.seed, run_dir=run_dir,
                           context=context, device=device, truth_path=args.truth)  # fmt: skip
    print(json.dumps({"test": metrics["test"]}))


def cmd_evaluate(args: argparse.Namespace) -> None:
    _evaluate(args, _settings(args), _device(args.device), run_dir=args.run)


def cmd_hpo_select(args: argparse.Namespace) -> None:
    from dice.hpo import select, write_selection

    if args.settings:
        search = _json_option(args.settings, "--settings", ("grid", "metric"))
    elif args.config and args.method:
        from dice.config import load_config
        from dice.hpo import grid_points, search_metric

        config = load_config(args.config)
        search = {"grid": grid_points(config, args.method),
                  "metric": search_metric(config, args.method)}  # fmt: skip
    else:
        raise DiceError("give --settings JSON (the grid search's), or --config with --method")
    if len(search["grid"]) != len(args.metrics):
        raise DiceError(f"{len(args.metrics)} metrics files for {len(search['grid'])} grid points")
    selection = select(search["grid"], args.metrics, metric=search["metric"])
    write_selection(args.out, selection)
    print(json.dumps(selection["chosen"]))


def cmd_plan(args: argparse.Namespace) -> None:
    from dice.config import load_config
    from dice.plan import Plan, canonical

    plan = Plan(load_config(args.config))
    tables = {"data": plan.data, "splits": plan.splits, "hpo": plan.searches, "runs": plan.runs}
    unknown = sorted(set(args.kinds) - set(tables))
    if unknown:
        raise DiceError(f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(tables)}")
    for kind in args.kinds or list(tables):
        for stage in tables[kind].values():
            stage = getattr(stage, "stage", stage)  # a run: its Planned record
            columns = [kind, stage.name, stage.dir]
            print("\t".join([*columns, canonical(stage.settings)] if args.settings else columns))


#: Modules that add subcommands with a ``register(subparsers)`` function (kept apart so that
#: each feature owns its command line next to its code).
EXTENSIONS = ("dice.cli_report", "dice.cli_verify", "dice.cli_leaderboard")


DESCRIPTION = """\
The DICE benchmark suite's command line. Most people never call it directly: the Snakemake
workflow (`snakemake --cores 2 all`) runs every step for a config and puts each result in its
own folder (docs/results-layout.md). Call it to look into a config, to run one step by hand, or
to check results.

What the subcommands produce:
  plan              where each data set, split, grid search and run of a config lives
  prepare, split    a binarised, filtered data set; its intervened split (4 parts + stats.json)
  train, evaluate   one model (model.pt, history.csv); its metrics.json, top-K lists, run.json
  table1 … figure   the paper's tables and figures from finished runs
  leaderboard       every method per backbone on the faithful and tuned tracks, ranked
  record, verify    expected/<config>.json from finished runs; fresh runs compared with it
  verify-paper      our Table 2 next to the paper's, with the paper's claims checked
"""

EPILOG = """\
three common invocations:
  dice plan --config config/smoke.yaml runs        # each run of a config and its folder
  dice verify --config config/smoke.yaml           # do my results reproduce expected/smoke.json?
  dice train --config my.yaml --method dice --backbone mf --seed 0 \\
             --split SPLIT_FOLDER --out RUN_FOLDER   # one run by hand (resumable)

`dice <subcommand> --help` describes each one's options.
"""


def build_parser(*, extensions: bool = True) -> argparse.ArgumentParser:
    """The whole command line; without `extensions`, only the stage commands (cheap to import:
    the workflow's per-job commands then skip the plotting and statistics stack)."""
    parser = argparse.ArgumentParser(prog="dice", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="raw ratings → filtered, reindexed interactions")
    p.add_argument("--settings", help="the data's resolved settings (JSON), as the workflow passes")
    p.add_argument("--config", type=Path, help="config file (with --dataset)")
    p.add_argument("--dataset")
    p.add_argument("--raw-dir", type=Path, default=Path("resources/raw"))
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("split", help="interactions → intervened split (4 Parquet parts + stats)")
    p.add_argument(
        "--settings", help="the split's resolved settings (JSON), as the workflow passes"
    )
    p.add_argument("--config", type=Path, help="config file (its split section)")
    p.add_argument("--data", type=Path, required=True, help="folder written by `dice prepare`")
    p.add_argument("--cap", type=float, help="override split.cap")
    p.add_argument("--share", type=float, help="override split.intervened_train_share")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_split)

    for name, func, helptext in (
        ("train", cmd_train, "train one run: model.pt, history.csv, train.json (resumable)"),
        ("evaluate", cmd_evaluate, "test one trained run: metrics.json, top-K lists, run.json"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--split", type=Path, required=True, help="split folder")
        p.add_argument(
            "--settings", help="resolved run settings (JSON), as the workflow passes them"
        )
        p.add_argument("--config", type=Path, help="config file (with --method and --backbone)")
        p.add_argument("--method")
        p.add_argument("--backbone", choices=("mf", "lightgcn"))
        p.add_argument("--hpo", type=Path, help="grid-search selection whose chosen point to apply")
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        p.add_argument("--threads", type=int, default=0)
        p.add_argument("--context", help="JSON describing the run (dataset, split, …) for "
                       "run.json" + (" (with --evaluate)" if name == "train" else ""))  # fmt: skip
        p.add_argument("--truth", type=Path, help="the simulator's ground truth (synthetic "
                       "data): adds the disentanglement scores")  # fmt: skip
        p.set_defaults(func=func)
    sub.choices["train"].add_argument("--out", type=Path, required=True, help="run folder")
    sub.choices["train"].add_argument(
        "--force", action="store_true", help="overwrite a finished run"
    )
    sub.choices["train"].add_argument(
        "--evaluate", action="store_true", help="then test it in the same process, as "
        "`dice evaluate --run OUT` does (the workflow's train jobs do)")  # fmt: skip
    sub.choices["evaluate"].add_argument("--run", type=Path, required=True, help="run folder")

    p = sub.add_parser("hpo-select", help="grid-point metrics → the chosen point (JSON)")
    p.add_argument(
        "metrics", type=Path, nargs="+", help="metrics.json of each point, in grid order"
    )
    p.add_argument("--settings", help="the grid search's settings (JSON: grid, metric)")
    p.add_argument("--config", type=Path, help="config file (with --method)")
    p.add_argument("--method")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_hpo_select)

    p = sub.add_parser(
        "plan", help="a config's data, splits, grid searches and runs: their folders"
    )
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--settings", action="store_true", help="add each stage's settings (JSON)")
    p.add_argument("kinds", nargs="*", metavar="{data,splits,hpo,runs}",
                   help="only these (default: all); output: kind, name, folder (tab-separated)")  # fmt: skip
    p.set_defaults(func=cmd_plan)

    parser.set_defaults(stage_commands=frozenset(sub.choices))  # read by _parser_for
    import importlib

    for module in EXTENSIONS if extensions else ():
        importlib.import_module(module).register(sub)
    return parser


def _parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """The stage commands' parser when `argv` names one of them, else the whole one."""
    core = build_parser(extensions=False)
    command = next((word for word in argv if not word.startswith("-")), None)
    return core if command in core.get_default("stage_commands") else build_parser()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser_for(argv).parse_args(argv)
    try:
        _setup(args)
        args.func(args)
    except DiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: what was written so far is kept; run the same command again to "
              "resume (training continues from its last checkpoint)", file=sys.stderr)  # fmt: skip
        return 130
    return 0
