"""Result files → tidy DataFrames for the paper's tables and figures.

Everything here reads what the stages wrote (run folders: run.json, metrics.json, topk*.parquet,
per_user.parquet, embeddings.npz; split folders: the training parts) and returns long frames with
one row per run and value; `dice.report` and `dice.plots` are pure functions of those frames. A
run that should be there and is not is reported by name, never dropped (`run_index`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dice.data.interactions import Interactions, read_split_meta
from dice.errors import DiceError
from dice.io import read_json
from dice.metrics import iou_at_k, popularity_bias
from dice.stats import CONFIDENCE, LONG_TAIL_HEAD

AVERAGE = "test_all_users"  # the official code's divisor: the one that compares with the paper
RUN_COLUMNS = ["dataset", "split", "cap", "share", "backbone", "method", "seed", "run", "profile"]
CELL_KEYS = ["dataset", "split", "cap", "share", "backbone", "method", "metric", "k"]
TERTILES = ("popular", "normal", "unpopular")  # DICE §4.3.1: three popularity groups
METHOD_LABELS = {
    "none": "None", "ips": "IPS", "ips-c": "IPS-C", "ips-cn": "IPS-CN", "ips-cnsr": "IPS-CNSR",
    "cause": "CausE", "dice": "DICE", "itempop": "ItemPop", "bias-u": "BIAS-U",
    "bias-i": "BIAS-I", "bias-ui": "BIAS-UI", "dice-int": "DICE-int", "dice-con": "DICE-con",
    "dice-random": "DICE (random neg.)", "dice-nocon": "DICE w/o conformity",
    "dice-l1": "L1-inv", "dice-l2": "L2-inv", "pd": "PD", "pda": "PDA", "macr": "MACR",
    "rel-mf": "Rel-MF", "bc-loss": "BC loss",
}  # fmt: skip
BACKBONE_LABELS = {"mf": "MF", "lightgcn": "LightGCN"}
_SPLIT = re.compile(r"cap(?P<cap>[0-9.]+)-share(?P<share>[0-9.]+)(?:-pool[0-9.]+)?")
ALPHA_METHOD = re.compile(r"dice-a(?P<alpha>[0-9.e-]+)-(?P<mode>curriculum|normal)")


def method_label(method: str, *, backbone: str | None = None) -> str:
    """Display name of a method key; with a backbone, ``none`` is the backbone's name (Fig. 5a)."""
    if method == "none" and backbone is not None:
        return BACKBONE_LABELS.get(backbone, backbone)
    if m := ALPHA_METHOD.fullmatch(method):
        return f"{m['mode']} (α = {m['alpha']})"
    return METHOD_LABELS.get(method, method)


# --- run folders ---------------------------------------------------------------------------------


def run_index(paths: Iterable[str | Path], *, need: Sequence[str] = ()) -> pd.DataFrame:
    """One row per run (`RUN_COLUMNS`) from run folders or files in them; identity from run.json.

    Raises:
        DiceError: naming every run folder that lacks metrics.json, run.json or a file of `need`.
    """
    folders = list(dict.fromkeys(Path(p).parent if Path(p).suffix else Path(p) for p in paths))
    lacking = {d: [n for n in ("metrics.json", "run.json", *need) if not (d / n).exists()] for d in folders}  # fmt: skip
    if missing := [f"{d} ({', '.join(names)})" for d, names in lacking.items() if names]:
        raise DiceError(f"{len(missing)} run(s) missing or unfinished: {'; '.join(missing)}")
    if not folders:
        raise DiceError("no runs given")
    return pd.DataFrame([_run_row(d) for d in folders], columns=RUN_COLUMNS)


def _run_row(folder: Path) -> dict:
    record = read_json(folder / "run.json")
    context = record.get("context", {})
    if lacking := {"dataset", "split", "backbone", "method", "seed"} - set(context):
        raise DiceError(f"run.json context lacks {sorted(lacking)}", path=folder / "run.json")
    match = _SPLIT.fullmatch(context["split"])
    cap, share = (float(match["cap"]), float(match["share"])) if match else (np.nan, np.nan)
    profile = record.get("settings", {}).get("train", {}).get("profile")
    return {**context, "seed": int(context["seed"]), "cap": cap, "share": share, "run": folder,
            "profile": profile}  # fmt: skip


def select(index: pd.DataFrame, *, dataset: str) -> pd.DataFrame:
    """The runs of one dataset (DiceError when there are none)."""
    rows = index[index["dataset"] == dataset]
    if rows.empty:
        raise DiceError(f"no runs of dataset {dataset!r} among the given runs")
    return rows.reset_index(drop=True)


def require_methods(index: pd.DataFrame, methods: Iterable[str], *, artefact: str) -> None:
    """DiceError unless `index` holds runs of every method in `methods`."""
    if lacking := sorted(set(methods) - set(index["method"])):
        raise DiceError(f"{artefact} needs runs of method(s) {', '.join(lacking)}; none given")


def describe(index: pd.DataFrame, *, unit: str = "cell") -> str:
    """What a table or figure shows, from its runs: seeds per `unit` and whether intervals are
    drawn, the caps and shares present, the training profile."""
    keys = [k for k in ("dataset", "split", "strength", "backbone", "method") if k in index]
    seeds = index.groupby(keys)["seed"].nunique()
    n = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    parts = [f"{n} seed{'s' if seeds.max() > 1 else ''} per {unit}",
             f"mean ± {CONFIDENCE:.0%} t-interval" if seeds.max() > 1 else "no intervals"]  # fmt: skip
    for name in ("cap", "share"):
        if name in index and len(values := sorted(index[name].dropna().unique())) > 1:
            parts.append(f"{name}s {', '.join(f'{v:g}' for v in values)}")
    if "profile" in index and len(profiles := sorted(index["profile"].dropna().unique())):
        parts.append(f"profile {', '.join(profiles)}")
    return "; ".join(parts)


def _joined(values: pd.Series) -> str:
    return ", ".join(sorted(values.dropna().unique()))


def with_profile(frame: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a ``profile`` column: the training profile of the runs behind each row
    (joined by ", " where they differ), matched on the run keys both frames have; a row no run
    matches (a series derived from a run, e.g. DICE-int) gets the profiles of all the runs."""
    if "profile" in frame or "profile" not in index:
        return frame
    keys = [k for k in ("dataset", "split", "backbone", "method") if k in frame and k in index]
    if not keys:
        return frame.assign(profile=_joined(index["profile"]))
    profiles = index.groupby(keys)["profile"].agg(_joined).reset_index()
    out = frame.merge(profiles, on=keys, how="left", validate="many_to_one")
    return out.assign(profile=out["profile"].fillna(_joined(index["profile"])))


# --- values per run ------------------------------------------------------------------------------


def metric_values(
    index: pd.DataFrame, *, average: str = AVERAGE, scoring: str | None = None
) -> pd.DataFrame:
    """Run columns + ``metric``, ``k``, ``value`` of metrics.json[`average`] (a DICE run's
    one-sided scores with `scoring` = ``interest`` / ``conformity``)."""

    def cells(run) -> Iterable[tuple]:
        metrics = read_json(run.run / "metrics.json")
        metrics = metrics if scoring is None else metrics.get("scoring", {}).get(scoring, {})
        if average not in metrics:
            raise DiceError(f"metrics.json has no {average!r} averages", path=run.run)
        return [(*name.split("@"), value) for name, value in metrics[average].items()]

    return _long(index, cells)


def _long(index: pd.DataFrame, cells) -> pd.DataFrame:
    """Run columns + ``metric``, ``k``, ``value``: one row per (metric, k, value) of `cells(run)`."""
    rows = [{**run._asdict(), "metric": m, "k": int(k), "value": float(v)}
            for run in index.itertuples(index=False) for m, k, v in cells(run)]  # fmt: skip
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS, "metric", "k", "value"])


def per_user(runs: pd.DataFrame) -> pd.DataFrame:
    """per_user.parquet of `runs` stacked, with a ``seed`` column."""
    frames = []
    for run in runs.itertuples(index=False):
        path = run.run / "per_user.parquet"
        if not path.exists():
            raise DiceError("per-user metrics are missing (rerun the evaluate stage)", path=path)
        frames.append(pd.read_parquet(path).assign(seed=run.seed))
    return pd.concat(frames, ignore_index=True)


def read_topk(path: str | Path) -> NDArray[np.int64]:
    """(U, K) item ids from a topk*.parquet file (long form user, rank, item)."""
    path = Path(path)
    if not path.exists():
        raise DiceError("top-K file is missing", path=path)
    frame = pd.read_parquet(path, columns=["user", "rank", "item"]).sort_values(["user", "rank"])
    n_users = frame["user"].nunique()
    if n_users == 0 or len(frame) % n_users:
        raise DiceError("top-K lists are not all of one length", path=path)
    return frame["item"].to_numpy(np.int64).reshape(n_users, -1)


@cache
def train_popularity(split_dir: Path) -> NDArray[np.int64]:
    """(I,) training counts of each item: normal + intervened train (training data only)."""
    meta = read_split_meta(split_dir / "meta.json")
    counts = np.zeros(meta["n_items"], dtype=np.int64)
    for part in ("train_normal", "train_intervened"):
        counts += Interactions.load(split_dir / f"{part}.parquet", n_users=meta["n_users"],
                                    n_items=meta["n_items"]).item_counts()  # fmt: skip
    return counts


def popularity_values(index: pd.DataFrame, *, splits_root: Path, ks: Sequence[int],
                      long_tail_head: float = LONG_TAIL_HEAD) -> pd.DataFrame:  # fmt: skip
    """Run columns + ``metric``, ``k``, ``value`` of `dice.metrics.popularity_bias` (the head
    holds `long_tail_head` of the training interactions) per run's top-K list."""

    def cells(run) -> list[tuple]:
        topk = read_topk(run.run / "topk.parquet")
        pop = train_popularity(Path(splits_root) / run.dataset / run.split)
        return [(m, k, v) for k in ks for m, v in popularity_bias(
            topk, pop, k=k, long_tail_share=1 - long_tail_head).items()]  # fmt: skip

    return _long(index, cells)


def iou_values(index: pd.DataFrame, *, ks: Sequence[int] | None = None) -> pd.DataFrame:
    """IOU@K with ItemPop of every run's top-K (DICE also -int/-con), Fig. 5a, as ``value``.

    Each run is compared with the ItemPop run of its dataset and split (same backbone and seed
    when there is one); both lists exclude the user's training items, as the official code does.
    `ks` default: 1 .. the length of the stored lists.
    """
    require_methods(index, ["itempop"], artefact="fig5a_iou")
    pop_runs = index[index["method"] == "itempop"]
    rows = []
    for run in index[index["method"] != "itempop"].itertuples(index=False):
        reference = read_topk(_itempop_run(pop_runs, run) / "topk.parquet")
        lists = {run.method: run.run / "topk.parquet"}
        if (run.run / "topk_interest.parquet").exists():
            lists |= {"dice-int": run.run / "topk_interest.parquet",
                      "dice-con": run.run / "topk_conformity.parquet"}  # fmt: skip
        for method, path in lists.items():
            topk = read_topk(path)
            if topk.shape[0] != reference.shape[0]:
                raise DiceError("top-K lists cover other users than the ItemPop run's", path=path)
            width = min(topk.shape[1], reference.shape[1])
            kept = range(1, width + 1) if ks is None else [k for k in ks if k <= width]
            iou = iou_at_k(topk[:, :width], reference[:, :width], ks=kept)
            rows += [{**run._asdict(), "method": method, "k": k, "value": v} for k, v in iou.items()]  # fmt: skip
    return pd.DataFrame(rows)


def _itempop_run(pop_runs: pd.DataFrame, run) -> Path:
    same = pop_runs[(pop_runs["dataset"] == run.dataset) & (pop_runs["split"] == run.split)]
    if same.empty:
        raise DiceError(f"fig5a_iou: no itempop run for {run.dataset}/{run.split}")
    rank = (same["backbone"] != run.backbone).astype(int) * 2 + (same["seed"] != run.seed)
    return same.loc[rank.idxmin(), "run"]


def curriculum_values(index: pd.DataFrame, *, average: str = AVERAGE) -> pd.DataFrame:
    """Fig. 8a: metric values of the dice-a<α>-<mode> runs with ``alpha`` and ``mode``."""
    values = metric_values(index, average=average)
    parsed = values["method"].str.extract(ALPHA_METHOD.pattern)
    keep = parsed["mode"].notna()
    if not keep.any():
        raise DiceError("fig8a_curriculum needs dice-a<α>-curriculum / -normal runs; none given")
    return values[keep].assign(alpha=parsed["alpha"][keep].astype(float), mode=parsed["mode"][keep])


# --- embeddings (Fig. 5b, Fig. 7) ----------------------------------------------------------------


def popularity_tertiles(popularity: NDArray[np.integer]) -> NDArray[np.str_]:
    """Each item's group: items ranked by (popularity desc, id) and cut into equal thirds (the
    official figures use hand-set thresholds; thirds by rank are balanced and tie-proof)."""
    pop = np.asarray(popularity)
    order = np.lexsort((np.arange(len(pop)), -pop))
    groups = np.empty(len(pop), dtype=object)
    groups[order] = np.array(TERTILES)[np.arange(len(pop)) * 3 // max(len(pop), 1)]
    return groups.astype(str)


def first_run(index: pd.DataFrame, method: str, *, artefact: str) -> pd.Series:
    """The run of `method` to visualise: the MF backbone if there is one, then the lowest seed."""
    require_methods(index, [method], artefact=artefact)
    rows = index[index["method"] == method]
    return rows.assign(rank=(rows["backbone"] != "mf").astype(int)).sort_values(["rank", "seed"]).iloc[0]  # fmt: skip


def tsne_items(run: pd.Series, *, tables: Sequence[str], splits_root: Path) -> pd.DataFrame:
    """t-SNE of a DICE run's item embedding tables, stacked: rows ``item``, ``table``, ``x``,
    ``y``, ``group`` (popularity tertile by training counts), ``run_method``."""
    from dice.seeding import numpy_rng
    from dice.stats import tsne_2d

    path = run["run"] / "embeddings.npz"
    if not path.exists():
        raise DiceError("embeddings.npz is missing (only DICE runs write it)", path=run["run"])
    with np.load(path) as arrays:
        if lacking := [f"item_{t}" for t in tables if f"item_{t}" not in arrays]:
            raise DiceError(f"embeddings.npz lacks {lacking}", path=path)
        stacked = np.vstack([arrays[f"item_{t}"] for t in tables])
    groups = popularity_tertiles(train_popularity(Path(splits_root) / run["dataset"] / run["split"]))  # fmt: skip
    if stacked.shape[0] != len(groups) * len(tables):
        raise DiceError("item embeddings and the split disagree on the number of items", path=path)
    xy = tsne_2d(stacked, rng=numpy_rng(int(run["seed"]), "tsne"))
    return pd.DataFrame({"item": np.tile(np.arange(len(groups)), len(tables)),
                         "table": np.repeat(list(tables), len(groups)), "x": xy[:, 0], "y": xy[:, 1],
                         "group": np.tile(groups, len(tables)), "run_method": run["method"]})  # fmt: skip
