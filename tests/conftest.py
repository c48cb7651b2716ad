"""Shared fixtures: tiny splits with known structure, seeded generators, the tests' config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

from dice.config import load_config, parse_run_settings, run_settings
from dice.data.interactions import Interactions, Split
from dice.data.splits import intervened_split
from dice.process import deterministic_kernels
from dice.seeding import numpy_rng

ROOT = Path(__file__).resolve().parents[1]
TEST_CONFIG = Path(__file__).resolve().parent / "data" / "config.yaml"

# Property tests draw the same examples on every run, so CI is repeatable; run with
# `--hypothesis-profile=explore` to search new examples.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile("repeatable")

# As the command line's train stage does (library code never sets it): deterministic kernels.
deterministic_kernels("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(scope="session")
def suite_config() -> dict:
    """The tests' frozen config (tests/data/config.yaml), not an experiment config."""
    return load_config(TEST_CONFIG)


def settings_for(config: dict, method: str, backbone: str, **train_overrides):
    settings = run_settings(config, method=method, backbone=backbone)
    settings["train"].update(train_overrides)
    return parse_run_settings(settings)


def checkerboard(n_users: int = 24, n_items: int = 16) -> Interactions:
    """Two user groups, two item groups; each user likes every item of its own group.

    User u belongs to group u % 2 and item i to group i % 2: the block structure has rank 2, so
    a model with a short fit must rank a withheld same-group item above every other-group item.
    """
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    keep = (users % 2) == (items % 2)
    return Interactions(
        users[keep].astype(np.int64), items[keep].astype(np.int64), n_users, n_items
    )


def power_law_interactions(n_users=200, n_items=120, per_user=25, seed=0) -> Interactions:
    """Users each click `per_user` distinct items drawn with Zipf-like popularity."""
    rng = numpy_rng(seed, "fixture")
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.8
    keys = rng.random((n_users, n_items)) ** (1.0 / weights)  # Efraimidis–Spirakis keys
    chosen = np.argsort(-keys, axis=1)[:, :per_user]
    users = np.repeat(np.arange(n_users), per_user)
    return Interactions(users.astype(np.int64), chosen.ravel().astype(np.int64), n_users, n_items)


@pytest.fixture(scope="session")
def small_split() -> Split:
    return intervened_split(power_law_interactions(), rng=numpy_rng(0, "split"))
