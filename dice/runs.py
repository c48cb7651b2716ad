"""The stages as functions of files: prepare → split → train → evaluate.

Each function reads its inputs from disk, calls the pure library, and writes its outputs
atomically. The command line (`dice.cli`) and the Snakemake rules are thin wrappers around them.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import dice
from dice.config import parse_run_settings
from dice.data.interactions import Split
from dice.data.random_exposure import RANDOM_FILE, prepare_random_exposure, split_random_exposure
from dice.data.random_exposure import SOURCES as RANDOM_EXPOSURE
from dice.data.splits import check_disjoint, intervened_split, split_statistics
from dice.errors import DiceError
from dice.evaluate import evaluate, top_k, topk_frame
from dice.guards import check_test_coverage
from dice.io import atomic_path, read_json, save_torch, write_json, write_parquet
from dice.registry import build_model
from dice.seeding import numpy_rng, torch_generator
from dice.settings import AnalysisSettings
from dice.train import Trainer, history_frame, peak_memory_mib, seconds_per_epoch

log = logging.getLogger("dice.runs")
LIBRARIES = ("torch", "numpy", "pandas", "pyarrow", "scipy", "snakemake")
TRAIN_OUTPUTS = ("model.pt", "history.csv", "train.json")
TRUTH_FILE = "truth.npz"  # synthetic data: the simulator's ground truth, in the data's indices
COUNTERFACTUAL_FILE = "counterfactual.parquet"  # synthetic splits: do(conformity = 0) clicks
#: Counterfactual clicks per user of the synthetic splits (the `analysis` default; the split
#: stage does not read the config's `analysis` section).
COUNTERFACTUAL_PER_USER = AnalysisSettings().counterfactual_per_user  # analysis: section default


def prepare_dataset(
    name: str,
    dataset: Mapping,
    preprocess: Mapping,
    *,
    raw_dir: Path,
    out: Path,
    seed: int,
    file_sha256: str | None = None,
) -> dict:
    """Raw ratings → binarised, filtered, reindexed interactions in `out`.

    `file_sha256`: for the user's own file (source ``file``), the content hash the plan saw;
    a file changed since is an error (its data folder would be mislabelled), and the hash is
    recorded in ``meta.json``.
    """
    from dice.data.datasets import load_ratings
    from dice.data.preprocess import PreprocessConfig, save_prepared
    from dice.data.preprocess import preprocess as run_preprocess

    config = PreprocessConfig(**{**preprocess, **dataset.get("preprocess", {})})
    source, truth, provenance = dataset["source"], None, {}
    if source == "synthetic":  # the simulator also returns its ground truth (docs/simulator.md)
        from dice.data.synthetic import generate_with_truth

        params = {"preset": dataset["preset"], **dataset.get("synthetic", {})}
        ratings, truth = generate_with_truth(params, rng=numpy_rng(seed, "synthetic"))
    elif source == "file":
        ratings, provenance = _user_file(name, dataset, config, file_sha256)
    elif source in RANDOM_EXPOSURE:  # biased part → interactions, random part → random.parquet
        return prepare_random_exposure(source, raw_dir / source, config, out=out)
    else:
        ratings = load_ratings(source, raw_dir=raw_dir / source, seed=seed)
    prepared = run_preprocess(ratings, config, rng=numpy_rng(seed, f"prepare:{name}"))
    save_prepared(prepared, out, provenance=provenance)
    if truth is not None:
        truth.reindex(prepared.user_ids, prepared.item_ids).save(out / TRUTH_FILE)
    return prepared.stats


def _user_file(name: str, dataset: Mapping, config, planned_sha256: str | None):
    """(ratings of the user's file, its provenance), checked against the planned hash."""
    from dice.data.userfile import file_sha256, file_spec, read_user_file

    spec = file_spec(dataset, dataset=name)
    sha256 = file_sha256(spec["path"], dataset=name)
    if planned_sha256 is not None and sha256 != planned_sha256:
        raise DiceError(f"the file changed after the workflow was planned (sha256 {sha256}, "
                        f"planned {planned_sha256}); run snakemake again", path=spec["path"])  # fmt: skip
    threshold = None if spec["implicit"] else config.rating_threshold
    ratings = read_user_file(spec, threshold=threshold, dataset=name)
    if spec["implicit"]:  # every row is a positive
        ratings["rating"] = config.rating_threshold
    return ratings, {"file": spec["path"], "file_sha256": sha256}


def split_dataset(data_dir: Path, split_options: Mapping, *, out: Path,
                  counterfactual_per_user: int = COUNTERFACTUAL_PER_USER) -> dict:  # fmt: skip
    """Prepared interactions → the intervened split in `out` with its statistics (and, for
    synthetic data, the counterfactual test: `counterfactual_per_user` clicks per user)."""
    from dice.data.preprocess import load_prepared

    prepared = load_prepared(data_dir)
    opts = dict(split_options)
    seed = opts.pop("seed")
    full = prepared.interactions
    if (Path(data_dir) / RANDOM_FILE).exists():  # test on random exposure (random_exposure.py)
        split, full = split_random_exposure(data_dir, prepared, opts, rng=numpy_rng(seed, "split"))
        check_disjoint(split)
    else:
        split = intervened_split(prepared.interactions, **opts, rng=numpy_rng(seed, "split"))
        check_disjoint(split)
        check_test_coverage(split)
    stats = split_statistics(split, full=full)
    provenance = read_json(Path(data_dir) / "meta.json").get("provenance")
    split.save(out, meta={"seed": seed, **opts, **({"data": provenance} if provenance else {})})
    # Synthetic data: an interest-only test beside the usual one; other data: an empty table.
    clicks = pd.DataFrame({"user": np.zeros(0, np.int64), "item": np.zeros(0, np.int64)})
    if (Path(data_dir) / TRUTH_FILE).exists():
        from dice.data.synthetic import GroundTruth, counterfactual_clicks

        truth = GroundTruth.load(Path(data_dir) / TRUTH_FILE)
        clicks = counterfactual_clicks(truth, rng=numpy_rng(seed, "counterfactual"),
                                       per_user=counterfactual_per_user, exclude=split.train.csr())  # fmt: skip
    write_parquet(out / COUNTERFACTUAL_FILE, clicks)
    write_json(out / "stats.json", stats)
    return stats


def import_parity_split(archive: Path, *, out: Path, force: bool = False) -> dict:
    """The authors' released split (``ml10m.zip``/``netflix.zip``) → a split folder `out`."""
    from dice.data.download import file_digest
    from dice.data.parity import read_parity_archive_with_checks
    from dice.guards import check_split

    if (Path(out) / "meta.json").exists() and not force:
        raise DiceError("a split is already here; pass --force to replace it", path=out)
    split, checks = read_parity_archive_with_checks(archive)
    check_split(split)
    check_test_coverage(split)
    meta = {"source": "parity", "archive": str(archive),
            "archive_sha256": file_digest(archive, "sha256"), "popularity_checks": checks}  # fmt: skip
    stats = split_statistics(split)
    split.save(Path(out), meta=meta)
    write_json(Path(out) / "stats.json", stats)
    return stats


def train_run(split_dir: Path, settings: Mapping, *, seed: int, out: Path, device: str = "cpu",
              force: bool = False, progress: bool | None = None) -> dict:  # fmt: skip
    """Train one (split, backbone, method, seed) run; resumable from `out/checkpoint.pt`.

    A finished run of the same settings and seed in `out` is left as it is ("already done");
    one of other settings is an error unless `force` retrains over it.
    """
    stamp = json.loads(json.dumps({"settings": dict(settings), "seed": seed}))
    if (out / "train.json").exists() and not force:
        done = read_json(out / "train.json")
        if {"settings": done.get("settings"), "seed": done.get("seed")} == stamp:
            log.info("already done: %s holds this finished run (pass --force to retrain)", out)
            return done
        raise DiceError("a finished run of other settings or seed is here; pass --force to "
                        "overwrite it, or choose another --out", path=out)  # fmt: skip
    _, model_cfg, train_cfg = parse_run_settings(settings)
    split = Split.load(split_dir)
    check_disjoint(split)
    model = build_model(model_cfg, split, generator=torch_generator(seed, "init"))
    _discard_stale_checkpoint(out, settings, seed)
    info = {"trainable": model.trainable, "device": device, **stamp}
    history: list[dict] = []
    if info["trainable"]:
        trainer = Trainer(model, split, config=train_cfg, seed=seed, device=device,
                          progress=progress)  # fmt: skip
        state = trainer.fit(checkpoint_path=out / "checkpoint.pt")
        model.load_state_dict(state.best_state)
        history = state.history
        info |= {"best_epoch": state.best_epoch, "best_valid": state.best_valid,
                 "epochs": state.epoch, "stopped": state.stopped}  # fmt: skip
    info |= {"seconds_per_epoch": seconds_per_epoch(history), "peak_memory_mib": peak_memory_mib()}
    save_torch(out / "model.pt", {k: v.cpu() for k, v in model.state_dict().items()})
    write_history_csv(out / "history.csv", history)
    write_json(out / "train.json", info)
    (out / "checkpoint.pt").unlink(missing_ok=True)
    (out / "checkpoint.json").unlink(missing_ok=True)
    return info


def _discard_stale_checkpoint(out: Path, settings: Mapping, seed: int) -> None:
    """A checkpoint resumes only the run that wrote it: same settings and seed (the stamp
    beside it); one left by a run with other settings is removed, not resumed."""
    stamp = {"settings": dict(settings), "seed": seed}
    stamp_path, checkpoint = out / "checkpoint.json", out / "checkpoint.pt"
    if checkpoint.exists() and (
        not stamp_path.exists() or read_json(stamp_path) != json.loads(json.dumps(stamp))
    ):
        log.info("discarding %s: it was written with other settings or seed", checkpoint)
        checkpoint.unlink()
    write_json(stamp_path, stamp)


def write_history_csv(path: Path, history: list[dict]) -> None:
    """The per-epoch training history as CSV (atomic)."""
    from dice.io import write_text

    write_text(path, history_frame(history).to_csv(index=False))


def evaluate_run(split_dir: Path, settings: Mapping, *, seed: int, run_dir: Path,
                 context: Mapping | None = None, device: str = "cpu",
                 truth_path: Path | None = None) -> dict:  # fmt: skip
    """Test the trained model of `run_dir`: metrics.json, topk*.parquet, per_user.parquet, run.json."""
    method, model_cfg, train_cfg = parse_run_settings(settings)
    split = Split.load(split_dir)
    model = build_model(model_cfg, split, generator=torch_generator(seed, "init"))
    state = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.to(device).eval()
    train_info = read_json(run_dir / "train.json")
    exclude = split.train.csr()
    metrics: dict = {key: train_info.get(key) for key in
                     ("best_epoch", "epochs", "seconds_per_epoch", "peak_memory_mib", "stopped")}  # fmt: skip
    k_max = max(train_cfg.ks)
    with torch.no_grad():
        for mode in model.scorings:
            ranked = top_k(model.scorer(mode), n_users=split.n_users, exclude=exclude, k=k_max,
                           batch_size=train_cfg.eval_batch_size, device=device)  # fmt: skip
            suffix = "" if mode == "full" else f"_{mode}"
            write_parquet(run_dir / f"topk{suffix}.parquet", topk_frame(ranked))
            scores = _score_parts(ranked, split, ks=train_cfg.ks)
            if mode == "full":
                metrics |= scores
                write_parquet(
                    run_dir / "per_user.parquet",
                    evaluate(ranked, split.test, ks=train_cfg.ks).per_user,
                )
            else:
                metrics.setdefault("scoring", {})[mode] = scores
        if truth_path is not None:
            analysis = AnalysisSettings(**settings.get("analysis", {}))
            metrics["disentanglement"] = _disentanglement(model, split, Path(split_dir), truth_path,
                                                          exclude=exclude, config=train_cfg,
                                                          analysis=analysis, device=device)  # fmt: skip
        if tables := model.embeddings():
            arrays = {k: v.detach().cpu().numpy() for k, v in tables.items()}
            with atomic_path(run_dir / "embeddings.npz") as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, **arrays)
    write_json(run_dir / "metrics.json", metrics)
    write_json(
        run_dir / "run.json",
        run_record(split_dir, settings, seed=seed, device=device, context=context),
    )
    return metrics


def _disentanglement(
    model,
    split: Split,
    split_dir: Path,
    truth_path: Path,
    *,
    exclude,
    config,
    analysis: AnalysisSettings,
    device,
) -> dict:
    """Scores against the simulator's ground truth (docs/simulator.md), under `no_grad`."""
    from dice.data.interactions import Interactions
    from dice.data.synthetic import GroundTruth
    from dice.disentangle import disentanglement_scores, scorers_of

    counterfactual = Interactions.load(
        split_dir / COUNTERFACTUAL_FILE, n_users=split.n_users, n_items=split.n_items
    )
    users, n_users = None, analysis.disentangle_users  # seeded by the split: same for all methods
    if split.n_users > n_users:
        rng = numpy_rng(read_json(split_dir / "meta.json")["seed"], "disentangle")
        users = np.sort(rng.choice(split.n_users, n_users, replace=False))
    return disentanglement_scores(**scorers_of(model), truth=GroundTruth.load(truth_path),
                                  counterfactual=counterfactual, exclude=exclude, users=users,
                                  k=analysis.counterfactual_k,
                                  batch_size=config.eval_batch_size, device=device)  # fmt: skip


def _score_parts(ranked: np.ndarray, split: Split, *, ks) -> dict:
    valid = evaluate(ranked, split.valid, ks=ks).averages
    test = evaluate(ranked, split.test, ks=ks).averages
    return {"valid": valid["users_with_truth"], "valid_all_users": valid["all_users"],
            "test": test["users_with_truth"], "test_all_users": test["all_users"]}  # fmt: skip


def run_record(
    split_dir: Path, settings: Mapping, *, seed: int, device: str, context: Mapping | None
) -> dict:
    """run.json: what produced this run (config, split files, seeds, versions, device)."""
    meta = read_json(Path(split_dir) / "meta.json")
    return {
        "settings": dict(settings),
        "context": dict(context or {}),
        "seed": seed,
        "split_seed": meta.get("seed"),
        **({"data": meta["data"]} if "data" in meta else {}),  # the user's file and its SHA-256
        "splits": {
            name: str(Path(split_dir) / f"{name}.parquet")
            for name in ("train_normal", "train_intervened", "valid", "test")
        },  # fmt: skip
        "code_version": {"package": dice.__version__, "git": git_revision()},
        "libraries": {name: _version(name) for name in LIBRARIES},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "torch_threads": torch.get_num_threads(),
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
