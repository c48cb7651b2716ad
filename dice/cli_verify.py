"""Reproducibility subcommands: `dice record`, `dice verify`, `dice verify-paper`, `dice import-split`.

`verify` and `verify-paper` print a table and write it as Markdown; `verify` fails (exit status
2, one line naming every run that moved, is missing or is extra) on a regression.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dice.errors import DiceError


def cmd_record(args: argparse.Namespace) -> None:
    from dice.io import write_json
    from dice.verify import expected_path, record

    out = args.out or expected_path(args.config)
    if out.exists() and not args.force:
        raise DiceError("expected results are already recorded here; pass --force to replace them",
                        path=out)  # fmt: skip
    doc = record(args.config, results=args.results)
    write_json(out, doc)
    print(f"recorded {len(doc['runs'])} runs of {args.config} in {out}")


def _show(text: str, report: Path | None) -> None:
    """Print the Markdown `text`, and write it to `report` when given."""
    from dice.io import write_text

    print(text, end="")
    if report:
        write_text(report, text)


def cmd_verify(args: argparse.Namespace) -> None:
    from dice.verify import expected_path, load_tolerances, verify

    expected = args.expected or expected_path(args.config)
    found = verify(args.config, expected, results=args.results,
                   tolerances=load_tolerances(args.tolerances), mode=args.mode)  # fmt: skip
    _show(found.table(), args.report)
    if not found.ok:
        raise DiceError(found.summary())


def cmd_verify_paper(args: argparse.Namespace) -> None:
    from dice.paper import verify_paper

    check = verify_paper(args.config, paper=args.paper, results=args.results,
                         tolerance=args.tolerance, average=args.average)  # fmt: skip
    _show(check.markdown(), args.report)
    if args.strict and not check.ok:
        raise DiceError(check.summary())


def cmd_import_split(args: argparse.Namespace) -> None:
    from dice.runs import import_parity_split

    stats = import_parity_split(args.archive, out=args.out, force=args.force)
    print(json.dumps({k: stats[k] for k in ("users", "items", "interactions", "entropy")}))


def register(sub: argparse._SubParsersAction) -> None:
    results = {"type": Path, "default": Path("results/runs"), "help": "root of the run folders"}
    p = sub.add_parser("record", help="finished runs of a config → expected/<config>.json")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--results", **results)
    p.add_argument("--out", type=Path, help="default: expected/<config name>.json")
    p.add_argument("--force", action="store_true", help="replace an existing expected file")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("verify", help="compare fresh runs with expected/<config>.json")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--expected", type=Path, help="default: expected/<config name>.json")
    p.add_argument("--results", **results)
    p.add_argument("--tolerances", type=Path, help="YAML: metric pattern → {abs, rel}")
    p.add_argument("--mode", choices=("auto", "exact", "tolerance"), default="auto",
                   help="auto: exact when machine and libraries match the recording")  # fmt: skip
    p.add_argument("--report", type=Path, help="also write the table here (Markdown)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("verify-paper", help="Table 2 cells and claims against the paper")
    p.add_argument("--config", type=Path, required=True, help="e.g. config/paper.yaml")
    p.add_argument("--paper", type=Path, default=None, help="default: dice/paper_results.yaml")
    p.add_argument("--average", default="test_all_users", help="metrics.json average compared")
    p.add_argument("--results", **results)
    p.add_argument("--tolerance", type=float, default=0.10, help="relative band per cell")
    p.add_argument("--report", type=Path, help="also write the report here (Markdown)")
    p.add_argument("--strict", action="store_true", help="fail unless every cell and claim holds")
    p.set_defaults(func=cmd_verify_paper)

    p = sub.add_parser("import-split", help="the authors' released split (zip) → split folder")
    p.add_argument("--archive", type=Path, required=True, help="ml10m.zip or netflix.zip")
    p.add_argument("--out", type=Path, required=True, help="split folder to write")
    p.add_argument("--force", action="store_true", help="replace an existing split")
    p.set_defaults(func=cmd_import_split)
