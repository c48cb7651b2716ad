"""The trainer's learning-rate schedule and early stopping, on a scripted validation metric.

The rules (dice/train.py, after the authors' code): ReduceLROnPlateau (mode max, torch's default
relative threshold 1e-4) multiplies the LR by `lr_factor` once more than `lr_patience`
consecutive epochs fail to improve on its best, never below `min_lr`; early stopping counts an
epoch as bad only when the LR read at the start of that epoch is already `min_lr` and the value
does not strictly beat the best seen so far (over all epochs), resets the count on a strict
improvement at `min_lr`, and stops once the count exceeds `es_patience`. Every expectation
below is worked out by hand from these rules, epoch by epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dice.config import run_settings, validate_config
from dice.data.interactions import Interactions, Split


def tiny_split() -> Split:
    """6 users, 10 items; user u: normal train u..u+2, intervened u+3, valid u+4, test u+5."""
    users = np.arange(6)

    def part(*offsets: int) -> Interactions:
        user = np.repeat(users, len(offsets))
        item = (user + np.tile(offsets, len(users))) % 10
        return Interactions(user.astype(np.int64), item.astype(np.int64), 6, 10)

    return Split(part(0, 1, 2), part(3), part(4), part(5))


def train_on_script(tmp_path: Path, values: list[float], **train) -> tuple[dict, pd.DataFrame]:
    """Train MF-BPR on `tiny_split` with epoch e's validation metric replaced by values[e].

    Returns train.json and history.csv of the run. This is the only function of this file that
    knows how the trainer is driven (`dice.runs.train_run`) and where it validates
    (`dice.train.validate`).
    """
    import dice.train
    from dice.runs import train_run

    tiny_split().save(tmp_path / "split", meta={"seed": 0})
    script = iter(values)

    def scripted(*args, **kwargs) -> float:
        value = next(script, None)
        assert value is not None, f"the trainer ran more than the {len(values)} scripted epochs"
        return value

    config = validate_config({"datasets": {"toy": {"source": "synthetic", "preset": "tiny"}},
                              "model": {"embedding_dim": 4}, "train": {"batch_size": 6, **train},
                              "evaluation": {"batch_size": 6}})  # fmt: skip
    settings = run_settings(config, method="none", backbone="mf")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dice.train, "validate", scripted)
        train_run(tmp_path / "split", json.loads(json.dumps(settings)), seed=0,
                  out=tmp_path / "run", progress=False)  # fmt: skip
    info = json.loads((tmp_path / "run" / "train.json").read_text())
    return info, pd.read_csv(tmp_path / "run" / "history.csv")


# lr 0.01, factor 0.1, min 1e-4, lr_patience 1 (cut after 2 bad epochs), es_patience 2 (stop
# after 3 bad epochs at the minimum). Per epoch: value, the scheduler's bad count after it (a cut
# resets it), the LR read at the epoch's start, the early-stopping count after it.
#   e  value  sched-bad         lr at start  es-bad
#   0  0.10   0 (best 0.10)     0.01         -  (not at min: never counted)
#   1  0.20   0 (best 0.20)     0.01         -
#   2  0.20   1 (equal: no)     0.01         -
#   3  0.15   2 > 1: cut 0.001  0.01         -
#   4  0.25   0 (best 0.25)     0.001        -
#   5  0.25   1                 0.001        -
#   6  0.25   2 > 1: cut 1e-4   0.001        -
#   7  0.24   1                 1e-4         1  (0.24 <= best 0.25)
#   8  0.30   0 (best 0.30)     1e-4         0  (strict improvement: reset)
#   9  0.30   1                 1e-4         1  (equal is not an improvement)
#  10  0.29   2: cut to 1e-4    1e-4         2
#  11  0.30   1                 1e-4         3 > 2: stop after epoch 11
SCRIPT = [0.10, 0.20, 0.20, 0.15, 0.25, 0.25, 0.25, 0.24, 0.30, 0.30, 0.29, 0.30]
LR_AT_START = [0.01] * 4 + [0.001] * 3 + [1e-4] * 5
RULES = {"lr": 0.01, "lr_factor": 0.1, "min_lr": 1e-4, "lr_patience": 1, "es_patience": 2}


def test_early_stopping_counts_only_bad_epochs_at_the_minimum_lr(tmp_path):
    info, history = train_on_script(tmp_path, SCRIPT + [0.5, 0.5], max_epochs=50, **RULES)
    assert (info["stopped"], info["epochs"]) == ("early_stopping", 12)
    assert info["best_epoch"] == 8  # the first 0.30; later equal values do not replace it
    assert info["best_valid"] == 0.30
    assert history["epoch"].tolist() == list(range(12))
    assert history["valid"].tolist() == SCRIPT
    np.testing.assert_allclose(history["lr"], LR_AT_START, rtol=1e-9)


def test_a_strict_improvement_at_the_minimum_lr_restarts_the_count(tmp_path):
    # as SCRIPT up to epoch 10 (count 2), then 0.31 > 0.30 resets it: three more bad epochs
    # (12, 13, 14: count 1, 2, 3 > 2) are needed before the stop
    values = SCRIPT[:11] + [0.31, 0.31, 0.2, 0.31, 0.9]
    info, history = train_on_script(tmp_path, values, max_epochs=50, **RULES)
    assert (info["stopped"], info["epochs"], info["best_epoch"]) == ("early_stopping", 15, 11)
    assert history["valid"].tolist() == values[:15]


def test_max_epochs_stops_a_run_before_early_stopping_would(tmp_path):
    info, history = train_on_script(tmp_path, SCRIPT[:10], max_epochs=10, **RULES)
    assert (info["stopped"], info["epochs"], info["best_epoch"]) == ("max_epochs", 10, 8)
    np.testing.assert_allclose(history["lr"], LR_AT_START[:10], rtol=1e-9)


def test_plateau_schedule_with_patience_zero_and_a_floor(tmp_path):
    # lr 0.008, factor 0.5, min 0.002, patience 0: every epoch that does not beat the best by
    # more than 1e-4 relative halves the LR for the next epoch, down to 0.002
    #   e  value     better?                           lr at start
    #   0  0.100     yes (first)                       0.008
    #   1  0.100     no -> 0.004                       0.008
    #   2  0.200     yes                               0.004
    #   3  0.200001  no: +5e-6 relative < 1e-4 -> 0.002 0.004
    #   4  0.300     yes                               0.002
    #   5  0.100     no -> max(0.001, 0.002) = 0.002   0.002
    values = [0.1, 0.1, 0.2, 0.200001, 0.3, 0.1]
    info, history = train_on_script(tmp_path, values, max_epochs=6, lr=0.008, lr_factor=0.5,
                                    min_lr=0.002, lr_patience=0, es_patience=50)  # fmt: skip
    np.testing.assert_allclose(history["lr"], [0.008, 0.008, 0.004, 0.004, 0.002, 0.002])
    # the best epoch, unlike the scheduler, takes any strict improvement
    assert info["best_epoch"] == 4 and info["stopped"] == "max_epochs"
