"""Each stage of the command line on a tiny synthetic dataset, and its one-line errors."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import yaml

from dice.cli import main
from dice.io import read_json

CONFIG = {
    "datasets": {"toy": {"source": "synthetic", "preset": "tiny"}},
    "methods": ["none", "dice", "itempop"],
    "train": {"max_epochs": 2, "batch_size": 256},
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    data, split = root / "data", root / "split"
    assert (
        main(
            [
                "prepare",
                "--config",
                str(config),
                "--dataset",
                "toy",
                "--raw-dir",
                str(root / "raw"),
                "--out",
                str(data),
            ]
        )
        == 0
    )
    assert main(["split", "--config", str(config), "--data", str(data), "--out", str(split)]) == 0
    return root, config, split


def test_split_writes_four_parts_and_statistics(workspace):
    _, _, split = workspace
    for part in ("train_normal", "train_intervened", "valid", "test"):
        frame = pd.read_parquet(split / f"{part}.parquet")
        assert list(frame.columns) == ["user", "item"] and len(frame) > 0
    stats = read_json(split / "stats.json")
    assert stats["disjoint"] and stats["entropy"]["test"] > stats["entropy"]["train"]
    # synthetic data: the simulator's ground truth and an interest-only counterfactual test
    assert (split.parent / "data" / "truth.npz").exists()
    counterfactual = pd.read_parquet(split / "counterfactual.parquet")
    assert len(counterfactual) > 0 and list(counterfactual.columns) == ["user", "item"]


@pytest.mark.parametrize("method", ["none", "dice", "itempop"])
def test_train_then_evaluate_writes_the_run_files(workspace, method):
    root, config, split = workspace
    run = root / "runs" / method
    common = [
        "--split",
        str(split),
        "--config",
        str(config),
        "--method",
        method,
        "--backbone",
        "mf",
        "--seed",
        "0",
        "--device",
        "cpu",
    ]
    assert main(["train", *common, "--out", str(run)]) == 0
    context = json.dumps(
        {"dataset": "toy", "split": "s", "backbone": "mf", "method": method, "seed": 0}
    )
    truth = str(root / "data" / "truth.npz")
    assert (
        main(["evaluate", *common, "--run", str(run), "--context", context, "--truth", truth]) == 0
    )
    metrics = read_json(run / "metrics.json")
    for average in ("valid", "test", "test_all_users"):
        assert set(metrics[average]) == {
            f"{m}@{k}" for m in ("recall", "hr", "ndcg") for k in (20, 50)
        }
    assert metrics["test"]["recall@20"] >= metrics["test_all_users"]["recall@20"]
    topk = pd.read_parquet(run / "topk.parquet")
    assert list(topk.columns) == ["user", "rank", "item"] and topk["rank"].max() == 49
    record = read_json(run / "run.json")
    assert record["context"]["method"] == method and set(record["splits"]) == {
        "train_normal",
        "train_intervened",
        "valid",
        "test",
    }
    assert metrics["disentanglement"]["interest_rank_corr"] is not None
    if method == "dice":
        assert set(metrics["scoring"]) == {"interest", "conformity"}
        assert (run / "topk_interest.parquet").exists() and (run / "embeddings.npz").exists()
        history = pd.read_csv(run / "history.csv")
        assert {
            "click",
            "interest",
            "conformity",
            "discrepancy",
            "alpha_interest",
            "margin_up",
        } <= set(history.columns)
        assert history["margin_up"].tolist() == [40.0, 36.0]  # curriculum: × 0.9 per epoch


def test_table_from_metrics(workspace, tmp_path):
    root, config, split = workspace  # its own run: the test must not depend on the others' order
    context = {"dataset": "toy", "split": "s", "backbone": "mf", "method": "none", "seed": 0}
    args = _train_args(root, config, split, tmp_path / "run", "--evaluate")
    assert main([*args, "--context", json.dumps(context)]) == 0
    metrics = [str(tmp_path / "run" / "metrics.json")]
    out = tmp_path / "table2.csv"
    assert main(["table", *metrics, "--out", str(out), "--markdown", str(tmp_path / "t.md")]) == 0
    table = pd.read_csv(out)
    assert {"dataset", "backbone", "method", "metric", "k", "mean", "std", "n_seeds"} <= set(
        table.columns
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prepare", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["split", "--cap", "1.5"], "cap"),
        (["train", "--method", "dcie", "--backbone", "mf", "--seed", "0"], "unknown method 'dcie'"),
        # the test's options without the test: refused, not silently ignored
        (
            ["train", "--method", "none", "--backbone", "mf", "--seed", "0", "--truth", "t.npz"],
            "add --evaluate",
        ),
    ],
)
def test_bad_input_is_one_line_with_exit_status_2(workspace, tmp_path, capsys, argv, message):
    root, config, split = workspace
    extra = {
        "prepare": ["--out", str(tmp_path / "d")],
        "split": ["--data", str(root / "data"), "--out", str(tmp_path / "s")],
        "train": ["--split", str(split), "--out", str(tmp_path / "r")],
    }[argv[0]]
    assert main([argv[0], "--config", str(config), *argv[1:], *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "s").exists() and not (tmp_path / "r" / "model.pt").exists()


def _train_args(root, config, split, out, *extra):
    return ["train", "--split", str(split), "--config", str(config), "--method", "none",
            "--backbone", "mf", "--seed", "0", "--out", str(out), *extra]  # fmt: skip


def test_rerunning_a_finished_train_is_already_done(workspace, capsys, caplog):
    caplog.set_level(logging.INFO, logger="dice.runs")
    root, config, split = workspace
    out = root / "rerun"
    assert main(_train_args(root, config, split, out)) == 0
    model = (out / "model.pt").read_bytes()
    assert main(_train_args(root, config, split, out)) == 0  # same settings: nothing to do
    assert "already done" in caplog.text
    assert (out / "model.pt").read_bytes() == model  # byte-identical, untouched
    # Other settings (another seed) over a finished run: an error naming the folder…
    assert (
        main(_train_args(root, config, split, out)[:-4] + ["--seed", "1", "--out", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(out) in err and "--force" in err and "\n" not in err
    # …unless --force retrains; the same seed again reproduces the same bytes
    assert main(_train_args(root, config, split, out, "--force")) == 0
    assert (out / "model.pt").read_bytes() == model


def test_ctrl_c_is_one_line_and_exit_130(workspace, capsys, monkeypatch):
    import dice.runs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dice.runs, "train_run", interrupted)
    root, config, split = workspace
    assert main(_train_args(root, config, split, root / "ctrlc")) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("interrupted: ") and "\n" not in err and "Traceback" not in err


def test_help_is_written_for_researchers_and_its_examples_parse(capsys):
    import shlex

    from dice.cli import EPILOG, build_parser

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    assert "three common invocations" in shown and "docs/results-layout.md" in shown
    examples = EPILOG.split("\n\n")[0].replace("\\\n", " ").splitlines()[1:]
    assert len(examples) == 3
    for line in examples:
        words = shlex.split(line.split("#")[0])
        assert words[0] == "dice"
        build_parser().parse_args(words[1:])  # exits (and fails the test) on a wrong option
