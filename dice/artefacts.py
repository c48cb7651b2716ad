"""Builders: result files → tidy DataFrames for the paper's tables and figures (SPEC §5).

Everything here reads what the stages wrote — run folders (run.json, metrics.json, topk*.parquet,
per_user.parquet, embeddings.npz) and split folders (train parts) — and returns DataFrames; the
tables (`dice.report`) and figures (`dice.plots`) are pure functions of those frames. A run that
should be there and is not is reported by name, never dropped (`run_index`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from numpy.typing import NDArray

from dice.data.interactions import Interactions, read_split_meta
from dice.errors import DiceError
from dice.io import read_json
from dice.metrics import iou_at_k, popularity_bias
from dice.stats import summarise_seeds

PAPER_RESULTS = Path(__file__).resolve().parents[1] / "config" / "paper_results.yaml"
AVERAGE = (
    "test_all_users"  # the official code's divisor: the one to compare with the paper (code §3)
)
RUN_COLUMNS = ["dataset", "split", "cap", "share", "backbone", "method", "seed", "run"]
CELL_KEYS = ["dataset", "split", "cap", "share", "backbone", "method", "metric", "k"]
TERTILES = ("popular", "normal", "unpopular")  # DICE §4.3.1: three popularity groups
METHOD_LABELS = {
    "none": "None", "ips": "IPS", "ips-c": "IPS-C", "ips-cn": "IPS-CN", "ips-cnsr": "IPS-CNSR",
    "cause": "CausE", "dice": "DICE", "itempop": "ItemPop", "bias-u": "BIAS-U",
    "bias-i": "BIAS-I", "bias-ui": "BIAS-UI", "dice-int": "DICE-int", "dice-con": "DICE-con",
    "dice-random": "DICE (random neg.)", "dice-nocon": "DICE w/o conformity",
    "dice-l1": "L1-inv", "dice-l2": "L2-inv",
}  # fmt: skip
BACKBONE_LABELS = {"mf": "MF", "lightgcn": "LightGCN"}
_SPLIT = re.compile(r"cap(?P<cap>[0-9.]+)-share(?P<share>[0-9.]+)")
_ALPHA = re.compile(r"dice-a(?P<alpha>[0-9.e-]+)-(?P<mode>curriculum|normal)")


def method_label(method: str, *, backbone: str | None = None) -> str:
    """Display name of a method key; with a backbone, ``none`` is the backbone's name (Fig. 5a)."""
    if method == "none" and backbone is not None:
        return BACKBONE_LABELS.get(backbone, backbone)
    if m := _ALPHA.fullmatch(method):
        return f"{m['mode']} (α = {m['alpha']})"
    return METHOD_LABELS.get(method, method)


def load_paper(path: str | Path = PAPER_RESULTS) -> dict:
    """The paper's published numbers (config/paper_results.yaml)."""
    path = Path(path)
    if not path.exists():
        raise DiceError("paper results file is missing", path=path)
    return yaml.safe_load(path.read_text())


def paper_value(paper: Mapping, table: str, dataset: str, *keys: str) -> float:
    """A published number, NaN when the paper has none (e.g. a dataset it did not use)."""
    node = paper.get(table, {}).get(paper.get("datasets", {}).get(dataset), {})
    for key in keys:
        node = node.get(key, {}) if isinstance(node, Mapping) else {}
    return float(node) if isinstance(node, int | float) else float("nan")


# --- run folders -----------------------------------------------------------------------------


def run_folder(path: str | Path) -> Path:
    """A run folder from the folder itself or any file in it (metrics.json, …)."""
    path = Path(path)
    return path.parent if path.suffix else path


def run_index(paths: Iterable[str | Path], *, need: Sequence[str] = ()) -> pd.DataFrame:
    """One row per run (`RUN_COLUMNS`), identity from run.json's context.

    Raises:
        DiceError: naming every run folder that lacks metrics.json, run.json or a file of `need`.
    """
    folders = list(dict.fromkeys(run_folder(p) for p in paths))
    names = ("metrics.json", "run.json", *need)
    missing = [f"{d} ({', '.join(n for n in names if not (d / n).exists())})" for d in folders
               if not all((d / n).exists() for n in names)]  # fmt: skip
    if missing:
        raise DiceError(f"{len(missing)} run(s) missing or unfinished: {'; '.join(missing)}")
    if not folders:
        raise DiceError("no runs given")
    return pd.DataFrame([_run_row(d) for d in folders], columns=RUN_COLUMNS)


def _run_row(folder: Path) -> dict:
    context = read_json(folder / "run.json").get("context", {})
    lacking = {"dataset", "split", "backbone", "method", "seed"} - set(context)
    if lacking:
        raise DiceError(f"run.json context lacks {sorted(lacking)}", path=folder / "run.json")
    match = _SPLIT.fullmatch(context["split"])
    cap, share = (float(match["cap"]), float(match["share"])) if match else (np.nan, np.nan)
    return {**context, "seed": int(context["seed"]), "cap": cap, "share": share, "run": folder}


def select(index: pd.DataFrame, *, dataset: str | None = None, study: str = "") -> pd.DataFrame:
    """The runs of one dataset (DiceError when there are none)."""
    rows = index if dataset is None else index[index["dataset"] == dataset]
    if rows.empty:
        raise DiceError(f"no runs of dataset {dataset!r} among the given runs {study}".strip())
    return rows.reset_index(drop=True)


def require_methods(index: pd.DataFrame, methods: Iterable[str], *, artefact: str) -> None:
    lacking = sorted(set(methods) - set(index["method"]))
    if lacking:
        raise DiceError(f"{artefact} needs runs of method(s) {', '.join(lacking)}; none given")


# --- metric values -----------------------------------------------------------------------------


def metric_values(
    index: pd.DataFrame, *, average: str = AVERAGE, scoring: str | None = None
) -> pd.DataFrame:
    """Long frame: the run columns + ``metric``, ``k``, ``value`` from each metrics.json.

    Args:
        average: ``test_all_users`` (official divisor, default), ``test``, ``valid``, …
        scoring: ``interest`` / ``conformity`` for a DICE run's one-sided scores.
    """
    rows = []
    for run in index.itertuples(index=False):
        metrics = read_json(run.run / "metrics.json")
        if scoring is not None:
            metrics = metrics.get("scoring", {}).get(scoring, {})
        if average not in metrics:
            raise DiceError(f"metrics.json has no {average!r} averages", path=run.run)
        for name, value in metrics[average].items():
            metric, k = name.split("@")
            rows.append({**run._asdict(), "metric": metric, "k": int(k), "value": float(value)})
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS, "metric", "k", "value"])


def run_scalar(index: pd.DataFrame, name: str) -> pd.DataFrame:
    """The run columns + ``value``: one top-level number of metrics.json (e.g. seconds_per_epoch)."""
    values = [read_json(run / "metrics.json").get(name) for run in index["run"]]
    return index.assign(value=pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"))


def metric_summary(index: pd.DataFrame, *, average: str = AVERAGE) -> pd.DataFrame:
    """Mean ± 95 % CI over seeds of every metric@k cell (`CELL_KEYS`)."""
    return summarise_seeds(metric_values(index, average=average), CELL_KEYS)


def per_user(runs: pd.DataFrame) -> pd.DataFrame:
    """per_user.parquet of `runs` stacked, with a ``seed`` column."""
    frames = []
    for run in runs.itertuples(index=False):
        path = run.run / "per_user.parquet"
        if not path.exists():
            raise DiceError("per-user metrics are missing (rerun the evaluate stage)", path=path)
        frames.append(pd.read_parquet(path).assign(seed=run.seed))
    return pd.concat(frames, ignore_index=True)


# --- top-K lists, popularity, embeddings ---------------------------------------------------------


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
    """(I,) training counts of each item: normal + intervened train (SPEC §4, training only)."""
    meta = read_split_meta(split_dir / "meta.json")
    counts = np.zeros(meta["n_items"], dtype=np.int64)
    for part in ("train_normal", "train_intervened"):
        counts += Interactions.load(split_dir / f"{part}.parquet", n_users=meta["n_users"],
                                    n_items=meta["n_items"]).item_counts()  # fmt: skip
    return counts


def popularity_tertiles(popularity: NDArray[np.integer]) -> NDArray[np.str_]:
    """Each item's group: the items ranked by (popularity, id), cut into three equal thirds.

    The official figures use hand-set thresholds (code §3, t-SNE); equal thirds by rank keep the
    groups balanced and deterministic under ties.
    """
    pop = np.asarray(popularity)
    order = np.lexsort((np.arange(len(pop)), -pop))  # most popular first, ties by id
    groups = np.empty(len(pop), dtype=object)
    groups[order] = np.array(TERTILES)[np.arange(len(pop)) * 3 // max(len(pop), 1)]
    return groups.astype(str)


def read_embeddings(run: Path, *names: str) -> dict[str, NDArray[np.float32]]:
    path = run / "embeddings.npz"
    if not path.exists():
        raise DiceError("embeddings.npz is missing (only DICE runs write it)", path=run)
    with np.load(path) as arrays:
        lacking = [n for n in names if n not in arrays]
        if lacking:
            raise DiceError(f"embeddings.npz lacks {lacking}", path=path)
        return {n: arrays[n] for n in names}


def split_dir_of(run: pd.Series | tuple, splits_root: Path) -> Path:
    return Path(splits_root) / run.dataset / run.split


def popularity_values(index: pd.DataFrame, *, splits_root: Path, ks: Sequence[int]) -> pd.DataFrame:
    """Run columns + ``metric``, ``k``, ``value`` of `dice.metrics.popularity_bias` per top-K list."""
    rows = []
    for run in index.itertuples(index=False):
        topk = read_topk(run.run / "topk.parquet")
        pop = train_popularity(split_dir_of(run, splits_root))
        for k in ks:
            for name, value in popularity_bias(topk, pop, k=k).items():
                rows.append({**run._asdict(), "metric": name, "k": int(k), "value": value})
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS, "metric", "k", "value"])


def iou_values(index: pd.DataFrame, *, ks: Sequence[int] = range(1, 51)) -> pd.DataFrame:
    """IOU@K with ItemPop of every run's top-K (DICE also -int/-con), Fig. 5a.

    Each run is compared with the ItemPop run of its dataset and split (same backbone and seed
    when there is one): both lists exclude the user's training items, as `compute_iou` (code §3).
    Columns: dataset, split, backbone, method (incl. dice-int / dice-con), seed, k, iou.
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
            kept = [k for k in ks if k <= width]
            iou = iou_at_k(topk[:, :width], reference[:, :width], ks=kept)
            rows += [{"dataset": run.dataset, "split": run.split, "backbone": run.backbone,
                      "method": method, "seed": run.seed, "k": k, "iou": v} for k, v in iou.items()]  # fmt: skip
    return pd.DataFrame(rows)


def _itempop_run(pop_runs: pd.DataFrame, run) -> Path:
    same = pop_runs[(pop_runs["dataset"] == run.dataset) & (pop_runs["split"] == run.split)]
    if same.empty:
        raise DiceError(f"fig5a_iou: no itempop run for {run.dataset}/{run.split}")
    rank = (same["backbone"] != run.backbone).astype(int) * 2 + (same["seed"] != run.seed)
    return same.loc[rank.idxmin(), "run"]


# --- figure frames -------------------------------------------------------------------------------


def with_series(frame: pd.DataFrame, *, backbone_names: bool = False) -> pd.DataFrame:
    """Add ``series`` (style key: the method) and ``label`` (legend text) columns.

    With `backbone_names`, the plain backbone is labelled by its name (Fig. 5a's "MF").
    """
    backbones = frame["backbone"] if backbone_names else [None] * len(frame)
    labels = [method_label(m, backbone=b) for m, b in zip(frame["method"], backbones, strict=True)]
    return frame.assign(series=frame["method"], label=labels)


def curve_frame(index: pd.DataFrame, *, average: str = AVERAGE) -> pd.DataFrame:
    """Metric summary (mean, ci95 over seeds) with series/label columns (Fig. 4, 6, 8b)."""
    return with_series(metric_summary(index, average=average))


def curriculum_frame(index: pd.DataFrame, *, average: str = AVERAGE) -> pd.DataFrame:
    """Fig. 8a: the summary of the dice-a<α>-<mode> runs with ``alpha`` and ``series`` = mode."""
    summary = metric_summary(index, average=average)
    parsed = summary["method"].str.extract(_ALPHA.pattern)
    summary = summary[parsed["mode"].notna()]
    parsed = parsed[parsed["mode"].notna()]
    if summary.empty:
        raise DiceError("fig8a_curriculum needs dice-a<α>-curriculum / -normal runs; none given")
    return summary.assign(alpha=parsed["alpha"].astype(float), series=parsed["mode"],
                          label=parsed["mode"].str.capitalize() + " learning")  # fmt: skip


def iou_frame(index: pd.DataFrame) -> pd.DataFrame:
    """Fig. 5a: IOU@K with ItemPop, mean ± CI over seeds, per (backbone, method, K)."""
    values = iou_values(index).rename(columns={"iou": "value"})
    keys = ["dataset", "split", "backbone", "method", "k"]
    return with_series(summarise_seeds(values, keys), backbone_names=True)


def first_run(index: pd.DataFrame, method: str, *, artefact: str) -> pd.Series:
    """The run of `method` to visualise: the MF backbone if there is one, then the lowest seed."""
    require_methods(index, [method], artefact=artefact)
    rows = index[index["method"] == method]
    order = rows.assign(rank=(rows["backbone"] != "mf").astype(int)).sort_values(["rank", "seed"])
    return order.iloc[0]


def tsne_items(run: pd.Series, *, tables: Sequence[str], splits_root: Path) -> pd.DataFrame:
    """t-SNE of a DICE run's item embedding tables, stacked (code §3: items_int over items_pop).

    Returns:
        Rows ``item``, ``table`` (interest/conformity), ``x``, ``y``, ``group`` (popularity
        tertile of the item by training counts), ``run_method``.
    """
    from dice.seeding import numpy_rng
    from dice.stats import tsne_2d

    vectors = read_embeddings(run["run"], *(f"item_{t}" for t in tables))
    stacked = np.vstack([vectors[f"item_{t}"] for t in tables])
    xy = tsne_2d(stacked, rng=numpy_rng(int(run["seed"]), "tsne"))
    groups = popularity_tertiles(train_popularity(split_dir_of(run, splits_root)))
    n_items = len(groups)
    if stacked.shape[0] != n_items * len(tables):
        raise DiceError("item embeddings and the split disagree on the number of items",
                        path=run["run"])  # fmt: skip
    return pd.DataFrame({
        "item": np.tile(np.arange(n_items), len(tables)),
        "table": np.repeat(list(tables), n_items),
        "x": xy[:, 0], "y": xy[:, 1],
        "group": np.tile(groups, len(tables)),
        "run_method": run["method"],
    })  # fmt: skip


def conformity_tsne_frame(index: pd.DataFrame, *, splits_root: Path) -> pd.DataFrame:
    """Fig. 7: t-SNE of conformity item embeddings of dice and dice-nocon, ``panel`` = label."""
    art_name, methods = "fig7_conformity", ("dice", "dice-nocon")
    require_methods(index, methods, artefact=art_name)
    frames = []
    for method in methods:
        run = first_run(index, method, artefact=art_name)
        points = tsne_items(run, tables=("conformity",), splits_root=splits_root)
        frames.append(points.assign(panel=method_label(method)))
    return pd.concat(frames, ignore_index=True)
