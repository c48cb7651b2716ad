"""Leakage guards: each one passes on clean inputs and catches a planted leak, both called
directly and where the suite calls it (registry, epoch sampler)."""

from __future__ import annotations

import numpy as np
import pytest

import dice.batches
import dice.registry
from dice.batches import EpochSampler
from dice.data.interactions import Interactions, Split
from dice.errors import DiceError
from dice.guards import (
    LeakageError,
    check_graph,
    check_popularity,
    check_split,
    check_test_coverage,
    graph_edges,
    training_popularity,
)
from dice.models.lightgcn import normalized_adjacency
from dice.registry import build_model
from dice.seeding import torch_generator
from tests.conftest import settings_for


def part(users, items, n_users=4, n_items=5) -> Interactions:
    return Interactions(np.array(users, np.int64), np.array(items, np.int64), n_users, n_items)


def with_parts(split: Split, **parts) -> Split:
    values = {
        name: split.part(name) for name in ("train_normal", "train_intervened", "valid", "test")
    }
    return Split(**(values | parts))


def leak_test_into_training(split: Split, n: int = 5) -> Split:
    planted = Interactions(split.test.user[:n], split.test.item[:n], split.n_users, split.n_items)
    return with_parts(split, train_intervened=split.train_intervened.concat(planted))


def all_data(split: Split) -> Interactions:
    return split.train.concat(split.valid).concat(split.test)


# --- no validation or test interaction in training ---------------------------------------------


def test_a_clean_split_passes(small_split):
    check_split(small_split)


@pytest.mark.parametrize("where", ["train_normal", "train_intervened"])
def test_test_pairs_planted_in_training_are_caught(small_split, where):
    planted = Interactions(small_split.test.user[:7], small_split.test.item[:7],
                           small_split.n_users, small_split.n_items)  # fmt: skip
    leaky = with_parts(small_split, **{where: small_split.part(where).concat(planted)})
    with pytest.raises(LeakageError, match="leakage: 7 test interactions are also training"):
        check_split(leaky)


def test_validation_pairs_planted_in_training_are_caught():
    split = Split(part([0, 1], [0, 1]), part([2], [2]), part([0, 3], [0, 3]), part([3], [4]))
    with pytest.raises(LeakageError, match="1 valid interactions"):  # (0, 0) is in both
        check_split(split)


def test_build_model_refuses_a_leaky_split(small_split, suite_config):
    _, cfg, _ = settings_for(suite_config, "none", "mf")
    with pytest.raises(LeakageError, match="5 test interactions"):
        build_model(cfg, leak_test_into_training(small_split), generator=torch_generator(0, "i"))


# --- the LightGCN graph holds training edges only -----------------------------------------------


def test_graph_edges_of_a_hand_built_graph():
    # users 0, 1; items 0..2; edges (0, 1) and (1, 2): keys u * 3 + i = 1 and 5, each stored in
    # both off-diagonal blocks; the self-loops are on the diagonal and are not user-item edges
    adjacency = normalized_adjacency(part([0, 1], [1, 2], n_users=2, n_items=3), self_loops=True)
    assert sorted(graph_edges(adjacency, n_users=2, n_items=3).tolist()) == [1, 1, 5, 5]
    dense = graph_edges(adjacency.to_dense(), n_users=2, n_items=3)
    assert sorted(dense.tolist()) == [1, 1, 5, 5]


def test_a_graph_of_training_edges_passes(small_split):
    check_graph(normalized_adjacency(small_split.train), small_split)
    check_graph(normalized_adjacency(small_split.train_intervened), small_split)  # CausE side


def test_a_graph_with_test_edges_is_caught(small_split):
    leaky = normalized_adjacency(small_split.train.concat(small_split.test))
    n_test = len(small_split.test)
    # every test pair appears twice in the symmetric adjacency
    with pytest.raises(LeakageError, match=f"holds {2 * n_test} user-item edges .*{2 * n_test} of"):
        check_graph(leaky, small_split)


@pytest.mark.parametrize("method", ["none", "dice", "cause"])
def test_build_model_checks_every_lightgcn_graph(small_split, suite_config, monkeypatch, method):
    _, cfg, _ = settings_for(suite_config, method, "lightgcn")
    build_model(cfg, small_split, generator=torch_generator(0, "i"))  # clean: passes
    monkeypatch.setattr(dice.registry, "graph_adjacency",
                        lambda train, config: normalized_adjacency(all_data(small_split)))  # fmt: skip
    if method == "cause":  # CausE builds its graphs through make_backbone: plant it there
        import dice.models.backbones as backbones

        monkeypatch.setattr(backbones, "graph_adjacency",
                            lambda train, config: normalized_adjacency(all_data(small_split)))  # fmt: skip
    with pytest.raises(LeakageError, match="LightGCN graph of .* validation or test"):
        build_model(cfg, small_split, generator=torch_generator(0, "i"))


# --- popularity of samplers, ItemPop and IPS is training-only -----------------------------------


def test_training_popularity_counts_the_named_parts():
    split = Split(part([0, 1, 2], [0, 0, 1]), part([3], [0]), part([0], [4]), part([1], [3]))
    assert training_popularity(split, parts=("train_normal",)).tolist() == [2, 1, 0, 0, 0]
    assert training_popularity(split, parts=("train_normal", "train_intervened")).tolist() == [
        3, 1, 0, 0, 0,
    ]  # fmt: skip
    with pytest.raises(LeakageError, match="non-training parts"):
        training_popularity(split, parts=("train_normal", "test"))


def test_popularity_counting_evaluation_data_is_caught(small_split):
    parts = ("train_normal",)
    check_popularity(small_split.train_normal.item_counts(), small_split, parts=parts, use="PNSM")
    leaky = small_split.train_normal.concat(small_split.valid).concat(small_split.test)
    with pytest.raises(LeakageError, match="used by PNSM counts validation and test"):
        check_popularity(leaky.item_counts(), small_split, parts=parts, use="PNSM")
    with pytest.raises(LeakageError, match="is not the item count of train_normal"):
        check_popularity(small_split.train.item_counts(), small_split, parts=parts, use="PNSM")


def leaky_popularity(split, *, parts):
    """A planted bug: popularity counted over the training parts plus validation and test."""
    return sum(split.part(name).item_counts() for name in (*parts, "valid", "test"))


@pytest.mark.parametrize("kind", ["uniform", "pnsm", "random"])
def test_the_epoch_sampler_refuses_leaky_popularity(small_split, monkeypatch, kind):
    EpochSampler(small_split, kind=kind, k=4)
    monkeypatch.setattr(dice.batches, "training_popularity", leaky_popularity)
    with pytest.raises(LeakageError, match="negative sampling counts validation and test"):
        EpochSampler(small_split, kind=kind, k=4)


@pytest.mark.parametrize(
    ("method", "use"), [("ips", "IPS"), ("ips-cnsr", "IPS"), ("itempop", "ItemPop")]
)
def test_build_model_refuses_leaky_ips_and_itempop_popularity(
    small_split, suite_config, monkeypatch, method, use
):
    _, cfg, _ = settings_for(suite_config, method, "mf")
    build_model(cfg, small_split, generator=torch_generator(0, "i"))
    monkeypatch.setattr(dice.registry, "training_popularity", leaky_popularity)
    with pytest.raises(LeakageError, match=f"used by {use} counts validation and test"):
        build_model(cfg, small_split, generator=torch_generator(0, "i"))


# --- bad input: a test set empty for most users -------------------------------------------------


def test_a_test_set_empty_for_most_users_is_refused():
    # users 0..3 all train; only user 3 has a test item: 3 of 4 users (75 %) have none
    split = Split(part([0, 1, 2, 3], [0, 1, 2, 3]), part([], []), part([0], [4]), part([3], [4]))
    with pytest.raises(DiceError, match=r"test set is empty for 3 of 4 users \(75%\)"):
        check_test_coverage(split)
    check_test_coverage(split, min_share=0.25)  # one of four users is exactly a quarter


def test_the_suite_split_covers_most_users(small_split):
    check_test_coverage(small_split)
