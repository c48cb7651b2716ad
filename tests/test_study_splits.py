"""The Fig. 8b study's splits (docs/protocol.md#intervened-split): one drawn pool for every
share, so validation, test and normal train are the same files, and intervened train grows by
nesting (the 5 % part inside the 10 % part inside ...). The main split stays as it was drawn
before pools existed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dice.data.interactions import Interactions
from dice.data.splits import intervened_split
from dice.errors import DiceError
from dice.plan import Plan, data_stage, identity, main_split, study_runs
from dice.seeding import numpy_rng

FIXED = ("train_normal", "valid", "test")


def study_splits(config) -> list:
    """The distinct split stages of the config's fig8b study, in share order."""
    plan, names = Plan(config), []
    for run in study_runs(config, "fig8b_shares"):
        if run["split"] not in names:
            names.append(run["split"])
    stages = {s.name.split("/", 1)[1]: s for s in plan.splits.values()}
    return sorted(
        (stages[n] for n in names), key=lambda s: s.settings["split"]["intervened_train_share"]
    )


def test_plan_draws_every_share_from_the_largest_pool(suite_config):
    shares = suite_config["studies"]["fig8b_shares"]["shares"]
    got = {s.name.split("/", 1)[1] for s in study_splits(suite_config)}
    assert got == {"cap0.9-share0-pool0.2", "cap0.9-share0.05-pool0.2", "cap0.9-share0.1-pool0.2",
                   "cap0.9-share0.15-pool0.2", "cap0.9-share0.2"}  # fmt: skip
    assert len(got) == len(shares)
    # the main split's settings are the config's split section, untouched: the same id as ever
    main = main_split(suite_config, "toy")
    want = {"data": data_stage(suite_config, "toy").id, "split": dict(suite_config["split"]),
            "counterfactual_per_user": suite_config["analysis"]["counterfactual_per_user"]}  # fmt: skip
    assert main.name == "toy/cap0.9-share0.1" and main.id == identity(want)


def test_fig8b_split_folders_share_parts_and_nest(suite_config, tmp_path):
    from dice.runs import prepare_dataset, split_dataset

    data = data_stage(suite_config, "toy").settings
    prepare_dataset("toy", data["entry"], data["preprocess"], raw_dir=tmp_path / "raw",
                    out=tmp_path / "data", seed=data["seed"])  # fmt: skip
    folders = []
    for stage in study_splits(suite_config):
        folders.append(tmp_path / stage.id)
        split_dataset(tmp_path / "data", stage.settings["split"], out=folders[-1])
    for part in FIXED:
        first = (folders[0] / f"{part}.parquet").read_bytes()
        assert all((f / f"{part}.parquet").read_bytes() == first for f in folders[1:]), part
    keys = [set(_keys(f / "train_intervened.parquet")) for f in folders]
    assert keys[0] == set() and all(a < b for a, b in zip(keys, keys[1:], strict=False))
    # the largest share's split is the plain split at that share, drawn as before
    total = sum(len(_keys(folders[-1] / f"{p}.parquet")) for p in (*FIXED, "train_intervened"))
    assert len(keys[-1]) == round(0.5 * total) - round(0.3 * total)


def _keys(path) -> np.ndarray:
    import pandas as pd

    frame = pd.read_parquet(path)
    return frame["user"].to_numpy() * 100_000 + frame["item"].to_numpy()


@st.composite
def cases(draw):
    n_users, n_items = draw(st.integers(2, 12)), draw(st.integers(2, 15))
    keys = draw(st.sets(st.integers(0, n_users * n_items - 1), min_size=4))
    keys = np.asarray(sorted(keys), dtype=np.int64)
    shares = draw(st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.15, 0.2, 0.3]), min_size=2,
                           max_size=5, unique=True))  # fmt: skip
    mode = draw(st.sampled_from([("percentile", "global"), ("probability", "global"),
                                 ("percentile", "per_user")]))  # fmt: skip
    return Interactions(keys // n_items, keys % n_items, n_users, n_items), sorted(shares), mode


@settings(max_examples=60, deadline=None)
@given(cases(), st.integers(0, 2**16))
def test_shares_drawn_from_one_pool_are_nested_and_fix_the_other_parts(case, seed):
    data, shares, (cap_mode, scope) = case
    pool = shares[-1]

    def split(share, pool_share):
        return intervened_split(data, cap=0.5 if cap_mode == "probability" else 0.9,
                                cap_mode=cap_mode, scope=scope, intervened_train_share=share,
                                intervened_pool_share=pool_share, rng=np.random.default_rng(seed))  # fmt: skip

    try:
        splits = [split(s, pool) for s in shares]
    except DiceError:  # a probability cap that cannot be met on this tiny input
        return
    for name in FIXED:
        for other in splits[1:]:
            assert np.array_equal(other.part(name).keys(), splits[0].part(name).keys())
    trains = [set(s.train_intervened.keys().tolist()) for s in splits]
    assert all(a <= b for a, b in zip(trains, trains[1:], strict=False))
    held = set().union(*(set(splits[-1].part(p).keys().tolist()) for p in FIXED))
    assert not trains[-1] & held
    plain = split(pool, None)  # the largest share's split is the plain split of that share
    for name in (*FIXED, "train_intervened"):
        assert np.array_equal(plain.part(name).keys(), splits[-1].part(name).keys())


def test_a_pool_below_the_share_is_refused():
    data = Interactions(np.arange(20) % 4, np.arange(20) % 5, 4, 5)
    with pytest.raises(DiceError, match="pool"):
        intervened_split(data, intervened_train_share=0.2, intervened_pool_share=0.1,
                         rng=numpy_rng(0, "split"))  # fmt: skip
