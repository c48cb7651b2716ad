"""The training loop shared by every method (docs/authors-code.md#training).

Per epoch: draw every positive's negatives (vectorised, seeded), shuffle, step the optimiser on
batches of `batch_size` positives (only the first `max_steps_per_epoch` of them when that cap is
set: a rehearsal at full data size, config/rehearsal.yaml), validate with full ranking, step ReduceLROnPlateau on the
validation metric, track the best epoch, apply the method's end-of-epoch hook (DICE's
curriculum), write a resumable checkpoint, and stop early per the official rule: once the
learning rate read at the start of an epoch is at its minimum, stop after more than
`es_patience` consecutive epochs without a strict improvement of the best value.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dice.batches import EpochSampler
from dice.config import TrainConfig
from dice.data.interactions import Split
from dice.errors import DiceError
from dice.evaluate import evaluate, top_k
from dice.io import save_torch
from dice.models.backbones import set_dropout_generator
from dice.models.base import Batch, Recommender
from dice.seeding import numpy_rng, torch_generator

log = logging.getLogger("dice.train")


@dataclass
class TrainState:
    """Everything a resumed run needs besides the model and optimiser."""

    epoch: int = 0  # next epoch to run
    best_epoch: int = -1
    best_valid: float = -math.inf
    best_state: dict | None = None
    es_best: float = -math.inf
    es_bad_epochs: int = 0
    stopped: str = ""
    history: list[dict] = field(default_factory=list)


def validate(model: Recommender, split: Split, *, config: TrainConfig, device: str) -> float:
    """Validation metric (official: recall@50 over all users, training items excluded)."""
    metric, k = config.valid_metric.split("@")
    model.eval()
    with torch.no_grad():
        ranked = top_k(model.scorer("full"), n_users=split.n_users, exclude=split.train.csr(),
                       k=int(k), batch_size=config.eval_batch_size, device=device)  # fmt: skip
    model.train()
    result = evaluate(ranked, split.valid, ks=(int(k),))
    return float(result.averages["all_users"][config.valid_metric])


class Trainer:
    """Trains one model on one split with explicit, checkpointed randomness.

    It sees the model only through the `Recommender` protocol: its sampler kind and options,
    loss, scorer and epoch hooks. Deterministic kernels are the caller's choice
    (`dice.process.deterministic_kernels`, applied by the command line).
    """

    def __init__(self, model: Recommender, split: Split, *, config: TrainConfig, seed: int,
                 device: str = "cpu", progress: bool | None = None):  # fmt: skip
        self.model, self.split, self.config = model.to(device), split, config
        self.device, self.seed = device, seed
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.sampler = EpochSampler(split, kind=model.negatives, k=config.negatives_per_positive,
                                    exclusion=config.negative_exclusion)  # fmt: skip
        self.sample_rng = numpy_rng(seed, "negatives")
        self.shuffle_rng = numpy_rng(seed, "shuffle")
        self.dropout_gen = torch_generator(seed, "dropout", device)
        set_dropout_generator(model, self.dropout_gen)
        self.optimizer = torch.optim.Adam(
            model.parameters(), lr=config.lr,
            betas=tuple(config.betas), weight_decay=config.weight_decay, amsgrad=config.amsgrad,
        )  # fmt: skip
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="max", factor=config.lr_factor,
            patience=config.lr_patience, min_lr=config.min_lr,
        )  # fmt: skip
        self.state = TrainState()

    # --- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "state": self.state.__dict__,
            "sample_rng": self.sample_rng.bit_generator.state,
            "shuffle_rng": self.shuffle_rng.bit_generator.state,
            "dropout_gen": self.dropout_gen.get_state(),
        }

    def save_checkpoint(self, path: Path) -> None:
        save_torch(path, self.checkpoint())

    def load_checkpoint(self, path: Path) -> None:
        try:
            saved = torch.load(path, map_location=self.device, weights_only=False)
        except Exception as err:
            raise DiceError(
                f"cannot read checkpoint ({type(err).__name__}); delete it to restart", path=path
            ) from None
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.state = TrainState(**saved["state"])
        self.sample_rng.bit_generator.state = saved["sample_rng"]
        self.shuffle_rng.bit_generator.state = saved["shuffle_rng"]
        self.dropout_gen.set_state(saved["dropout_gen"].cpu())

    # --- the loop ------------------------------------------------------------------------------
    def fit(self, *, checkpoint_path: Path | None = None) -> TrainState:
        if checkpoint_path is not None and checkpoint_path.exists():
            self.load_checkpoint(checkpoint_path)
            log.info("resumed from %s at epoch %d", checkpoint_path, self.state.epoch)
        while not self.state.stopped:
            if self.state.epoch >= self.config.max_epochs:
                self.state.stopped = "max_epochs"
                break
            self.run_epoch()
            if checkpoint_path is not None:
                self.save_checkpoint(checkpoint_path)
        return self.state

    def run_epoch(self) -> None:
        epoch, state = self.state.epoch, self.state
        lr_at_start = self.optimizer.param_groups[0]["lr"]
        t0 = time.perf_counter()
        samples = self.sampler.sample(rng=self.sample_rng, **self.model.sampler_options())
        t_sample = time.perf_counter() - t0
        terms = self._train_steps(samples, epoch)
        schedule = self.model.epoch_state()  # after the steps, before end_epoch's schedule moves
        t_train = time.perf_counter() - t0
        valid = validate(self.model, self.split, config=self.config, device=self.device)
        t_total = time.perf_counter() - t0
        self.scheduler.step(valid)
        if valid > state.best_valid:
            state.best_valid, state.best_epoch = valid, epoch
            state.best_state = copy.deepcopy(
                {k: v.cpu() for k, v in self.model.state_dict().items()}
            )
        self._early_stopping(valid, lr_at_start)
        self.model.end_epoch()
        record = {"epoch": epoch, "lr": lr_at_start, "valid": valid, **terms, **schedule,
                  "fallback_rows": samples.fallback_rows, "seconds": t_total,
                  "seconds_sampling": t_sample, "seconds_training": t_train}  # fmt: skip
        state.history.append(record)
        log.info(" ".join(f"{k}={_fmt(v)}" for k, v in record.items()))
        state.epoch += 1

    def _early_stopping(self, valid: float, lr_at_start: float) -> None:
        """The authors' EarlyStopManager: counts only once lr has reached min_lr.

        See docs/authors-code.md#schedule-and-early-stopping.
        """
        state = self.state
        at_min = lr_at_start <= self.config.min_lr * (1 + 1e-9)
        if at_min and valid <= state.es_best:
            state.es_bad_epochs += 1
            if state.es_bad_epochs > self.config.es_patience:
                state.stopped = "early_stopping"
        else:
            state.es_bad_epochs = 0 if at_min else state.es_bad_epochs
        state.es_best = max(state.es_best, valid)

    #: On CUDA, synchronise around each phase so that the seconds_forward/backward/optimizer
    #: split measures device time (costs some speed); otherwise it measures launch time.
    sync_timing: bool = False
    #: Steps between checks that the loss is finite (each check waits for the device).
    finite_check_every: int = 64

    def _train_steps(self, samples, epoch: int) -> dict[str, float]:
        """One pass over the shuffled samples; the mean of each loss term, plus the seconds spent
        building batches, in the forward pass, the backward pass and the optimiser."""
        n, size = len(samples), self.config.batch_size
        n_batches = n // size if self.config.drop_last else -(-n // size)
        clock = _PhaseClock(sync=self.sync_timing and torch.device(self.device).type == "cuda")
        order = self.shuffle_rng.permutation(n)  # drawn in full: a cap leaves the stream as is
        if not n_batches:
            raise DiceError(
                f"{n} training positives are fewer than one batch of {size}; lower train.batch_size"
            )
        cap = self.config.max_steps_per_epoch
        if cap is not None and cap < n_batches:  # the first `cap` full batches of the epoch
            n_batches, n = cap, cap * size
            order = order[:n]
        # The epoch in shuffled order, moved once; batch b is rows [b·size, (b+1)·size) of it.
        data = samples.batch(order).to(self.device)
        clock.lap("batching")
        steps: Iterable[int] = range(n_batches)
        if self.progress:
            from tqdm import tqdm

            steps = tqdm(steps, desc=f"epoch {epoch}", leave=False)
        self.model.train()
        sums, names, losses = None, [], torch.empty(n_batches, device=self.device)
        for step in steps:
            terms = self.model.loss(_rows(data, step * size, min(n, (step + 1) * size)))
            clock.lap("forward")
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            clock.lap("backward")
            self.optimizer.step()
            clock.lap("optimizer")
            values = torch.stack([v.detach().to(torch.float64) for v in terms.values()])
            sums, names = (values, list(terms)) if sums is None else (sums + values, names)
            losses[step] = terms["loss"].detach()
            if (step + 1) % self.finite_check_every == 0 or step + 1 == n_batches:
                _check_finite(losses, step - step % self.finite_check_every, step, epoch)
            clock.lap("batching")
        means = {name: total / n_batches for name, total in zip(names, sums.tolist(), strict=True)}
        return means | clock.seconds()


class _PhaseClock:
    """Accumulates wall seconds per named phase between successive `lap` calls."""

    def __init__(self, *, sync: bool):
        self.sync, self.totals = sync, {}
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        if self.sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - self.last
        self.last = now

    def seconds(self) -> dict[str, float]:
        return {f"seconds_{p}": self.totals.get(p, 0.0)
                for p in ("batching", "forward", "backward", "optimizer")}  # fmt: skip


def _rows(batch: Batch, start: int, stop: int) -> Batch:
    """Rows [start, stop) of every field of `batch` (views, no copy)."""
    fields = (getattr(batch, f.name) for f in dataclasses.fields(batch))
    return Batch(*(None if f is None else f[start:stop] for f in fields))


def _check_finite(losses: torch.Tensor, first: int, last: int, epoch: int) -> None:
    """DiceError naming the first step in [first, last] whose loss is not finite."""
    window = losses[first : last + 1]
    if bool(torch.isfinite(window).all()):
        return
    bad = first + int((~torch.isfinite(window)).nonzero()[0, 0])
    raise DiceError(f"training diverged: loss is {losses[bad].item()} at epoch {epoch}, step {bad}; "
                    "lower the learning rate or check the data")  # fmt: skip


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def history_frame(history: list[dict]):
    import pandas as pd

    return pd.DataFrame(history)


def seconds_per_epoch(history: list[dict]) -> float:
    return float(np.median([h["seconds_training"] for h in history])) if history else 0.0
