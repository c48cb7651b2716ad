"""Real MovieLens-100K (offline, from the recbole wheel): BPR-MF beats ItemPop on the
intervened test, as every model in the paper's Table 2 beats a popularity list."""

from __future__ import annotations

import importlib.util

import pytest

from dice.config import load_config, run_settings
from dice.io import read_json
from dice.runs import evaluate_run, prepare_dataset, split_dataset, train_run
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.realdata,
    pytest.mark.skipif(
        importlib.util.find_spec("recbole") is None, reason="needs the recbole wheel"
    ),
]


def test_mf_beats_itempop_on_real_ml100k(tmp_path):
    config = load_config(ROOT / "config" / "config.yaml")
    data, split = tmp_path / "data", tmp_path / "split"
    stats = prepare_dataset("ml100k", {"source": "ml100k"}, config["preprocess"],
                            raw_dir=tmp_path / "raw", out=data, seed=0)  # fmt: skip
    assert stats["filtered"]["records"] == 16475  # 514 users, 456 items after "> 10" (see README)
    split_stats = split_dataset(data, config["split"], out=split)
    assert split_stats["entropy"]["test"] > split_stats["entropy"]["train"] + 0.3
    recall = {}
    for method in ("none", "itempop"):
        settings = run_settings(config, method=method, backbone="mf")
        run = tmp_path / method
        train_run(split, settings, seed=0, out=run, progress=False)
        context = {"dataset": "ml100k", "split": "s", "backbone": "mf", "method": method, "seed": 0}
        evaluate_run(split, settings, seed=0, run_dir=run, context=context)
        recall[method] = read_json(run / "metrics.json")["test"]["recall@20"]
    assert recall["none"] > 1.3 * recall["itempop"], recall
