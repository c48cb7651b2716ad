"""Matrix factorisation backbone (BPR-MF, Rendle et al. 2009; docs/authors-code.md#mf)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dice.models.base import uniform_init


class MFBackbone(nn.Module):
    """Free user and item embedding tables; ``forward()`` returns them as they are."""

    def __init__(self, n_users: int, n_items: int, dim: int, *, generator: torch.Generator):
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        self.user = uniform_init(n_users, dim, generator=generator)
        self.item = uniform_init(n_items, dim, generator=generator)

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.user, self.item  # (U, d), (I, d)
