"""What a method module declares: `Method` (its settings, how to build its model) and `Entry`
(one registry key: a method with fixed settings). See docs/methods.md."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from dice.models.base import Recommender


@dataclass(frozen=True)
class Method:
    """One method family: the model it builds and everything the stages need to know about it.

    Attributes:
        family: its name (docs, the resolved settings' ``family``).
        settings: a frozen dataclass of its settings, every field a `dice.settings.setting`
            (default, description, source, bounds); the config's `method_settings` override it.
        build: ``build(settings, context) -> Recommender``: the untrained model on the
            context's backbone, split and generator (`dice.registry.BuildContext`).
        lr_key: the key of the config's `train` section that is this method's learning rate;
            it is resolved into the run's ``train.lr`` when settings are resolved.
        dual_table: the model holds two embedding tables per entity (DICE, CausE): its backbones
            use `model.dual_embedding_dim` instead of `model.embedding_dim`.
        needs_intervened: it cannot train without intervened training data (planned runs skip
            it on splits with none).
    """

    family: str
    settings: type
    build: Callable[[Any, Any], Recommender]  # (settings, dice.registry.BuildContext)
    lr_key: Literal["lr", "lr_dice"] = "lr"
    dual_table: bool = False
    needs_intervened: bool = False


@dataclass(frozen=True)
class Entry:
    """A registry key: `method` with `fixed` settings on top of its defaults (or on top of the
    resolved settings of the entry named `base`, for a variant such as dice-l1)."""

    method: Method
    fixed: Mapping[str, Any] = field(default_factory=dict)
    base: str | None = None
    summary: str = ""
