"""Adding a method the documented way (docs/methods.md, "Add a method"): a module that declares
its settings, model and `METHOD`, one registry entry, one config entry; then the unchanged
command line trains and evaluates it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import yaml
from torch import Tensor, nn

from dice.cli import main
from dice.io import read_json
from dice.losses import bpr
from dice.methods import REGISTRY, Entry, Method, register
from dice.models.base import Batch, Recommender, Scorer, Scoring, inner_scorer
from dice.settings import setting

# --- the method's module (dice/methods/<name>.py) -----------------------------------------------


@dataclass(frozen=True)
class ScaledSettings:
    scale: float = setting(1.0, doc="multiplies the BPR loss", source="this test",
                           exclusiveMinimum=0)  # fmt: skip


class ScaledBPR(Recommender):
    """BPR on the backbone with its loss scaled; it records the scale it was built with."""

    def __init__(self, backbone: nn.Module, *, scale: float):
        super().__init__()
        self.backbone, self.scale = backbone, scale
        self.register_buffer("built_scale", torch.tensor(scale))

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        users, items = self.backbone()
        u = users[batch.users]
        pos = (u * items[batch.pos]).sum(-1)
        neg = torch.einsum("bd,bkd->bk", u, items[batch.neg])
        return {"loss": self.scale * bpr(pos, neg)}

    def scorer(self, mode: Scoring = "full") -> Scorer:
        return inner_scorer(*self.backbone())


def build(settings: ScaledSettings, context) -> ScaledBPR:
    return ScaledBPR(context.backbone(context.train_graph()), scale=settings.scale)


METHOD = Method(family="scaled", settings=ScaledSettings, build=build)

# --- its registry line, made at test time ---------------------------------------------------------


@pytest.fixture
def registered():
    register("scaled-bpr", Entry(METHOD, summary="BPR with a scaled loss"))
    yield
    REGISTRY.pop("scaled-bpr")


def test_a_new_method_trains_and_evaluates_through_the_command_line(
    registered, tmp_path, small_split
):
    small_split.save(tmp_path / "split", meta={"seed": 0})
    config = {"datasets": {"toy": {"source": "synthetic", "preset": "tiny"}},
              "methods": ["scaled-bpr"], "profile": "smoke", "train": {"max_epochs": 2},
              "method_settings": {"scaled-bpr": {"scale": 0.5}}}  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    common = ["--split", str(tmp_path / "split"), "--config", str(tmp_path / "config.yaml"),
              "--method", "scaled-bpr", "--backbone", "mf", "--seed", "0", "--device", "cpu"]  # fmt: skip
    run = tmp_path / "run"
    assert main(["train", *common, "--out", str(run)]) == 0
    assert main(["evaluate", *common, "--run", str(run)]) == 0
    assert read_json(run / "train.json")["epochs"] == 2
    assert float(torch.load(run / "model.pt")["built_scale"]) == 0.5  # the config reached it
    metrics = read_json(run / "metrics.json")
    assert 0 <= metrics["test"]["recall@20"] <= 1 and "recall@50" in metrics["test"]


def test_a_setting_of_the_new_method_is_range_checked(registered, tmp_path):
    from dice.config import validate_config
    from dice.errors import DiceError

    config = {"methods": ["scaled-bpr"], "method_settings": {"scaled-bpr": {"scale": 0}}}
    with pytest.raises(DiceError, match="method_settings/scaled-bpr/scale"):
        validate_config(config)


def test_a_key_is_registered_once(registered):
    from dice.errors import DiceError

    with pytest.raises(DiceError, match="already registered"):
        register("scaled-bpr", Entry(METHOD))


def test_the_stages_know_no_method_by_name():
    """Trainer, run stages, planner and registry lookup see methods only through the protocol."""
    from pathlib import Path

    import dice

    root = Path(dice.__file__).parent
    for name in ("train.py", "runs.py", "registry.py", "hpo.py", "cli.py", "config.py"):
        text = (root / name).read_text().replace('prog="dice"', "")  # the program, not the method
        for key in REGISTRY:
            assert f'"{key}"' not in text, (name, key)
        assert "getattr(model" not in text and "hasattr(model" not in text, name
