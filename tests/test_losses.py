"""Losses by hand on tiny tensors; distance correlation against the `dcor` package."""

from __future__ import annotations

import math

import dcor
import numpy as np
import pytest
import torch

from dice.losses import bpr, discrepancy, distance_correlation, masked_bpr


def softplus_neg(d: float) -> float:
    """-log σ(d) = log(1 + e^{-d}), written out independently of torch."""
    return math.log1p(math.exp(-d))


# pos = [1, 0], neg = [[0, 1], [0, -2]] → diffs pos - neg = [[1, 0], [0, 2]].
POS = torch.tensor([1.0, 0.0], dtype=torch.float64)
NEG = torch.tensor([[0.0, 1.0], [0.0, -2.0]], dtype=torch.float64)
TERMS = [[softplus_neg(1.0), softplus_neg(0.0)], [softplus_neg(0.0), softplus_neg(2.0)]]


def test_bpr_by_hand() -> None:
    # (0.313262 + 0.693147 + 0.693147 + 0.126928) / 4 = 0.456621
    expected = sum(sum(row) for row in TERMS) / 4
    assert bpr(POS, NEG).item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.456621, abs=1e-6)


def test_bpr_weight_multiplies_rows() -> None:
    # weight [2, 0]: (2·(0.313262 + 0.693147) + 0·(...)) / 4 — still divided by all 4 pairs
    weight = torch.tensor([2.0, 0.0], dtype=torch.float64)
    expected = 2 * sum(TERMS[0]) / 4
    assert bpr(POS, NEG, weight=weight).item() == pytest.approx(expected, rel=1e-12)


def test_bpr_is_finite_for_large_differences() -> None:
    # -log σ(-200) = 200 + log(1 + e^{-200}) ≈ 200; log(sigmoid(.)) would give inf here
    loss = bpr(torch.tensor([0.0]), torch.tensor([[200.0]]))
    assert loss.item() == pytest.approx(200.0)


def test_masked_bpr_divides_by_all_entries() -> None:
    # diff [[1, -1], [3, 0]], mask [[1, 0], [0, 1]]: (softplus(-1) + softplus(-0)) / 4
    diff = torch.tensor([[1.0, -1.0], [3.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[True, False], [False, True]])
    expected = (softplus_neg(1.0) + softplus_neg(0.0)) / 4
    assert masked_bpr(diff, mask).item() == pytest.approx(expected, rel=1e-12)
    assert masked_bpr(diff, mask.double()).item() == pytest.approx(expected, rel=1e-12)
    assert masked_bpr(diff, torch.zeros(2, 2)).item() == 0.0


def test_dcor_by_hand() -> None:
    # x = (0, 1, 2), y = (0, 1, 0).  a = |x_k - x_l| = [[0,1,2],[1,0,1],[2,1,0]],
    # row means (1, 2/3, 1), grand mean 8/9 → A = 1/9 [[-10,2,8],[2,-4,2],[8,2,-10]].
    # b = [[0,1,0],[1,0,1],[0,1,0]], row means (1/3, 2/3, 1/3), grand 4/9
    # → B = 1/9 [[-2,4,-2],[4,-8,4],[-2,4,-2]].
    # ΣA∘B = 72/81, ΣA∘A = 360/81, ΣB∘B = 144/81; divide by n² = 9:
    # dCov² = 8/81, dVar²x = 40/81, dVar²y = 16/81 → dCor² = 8/√640 = 1/√10, dCor = 10^(-1/4).
    x = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([[0.0], [1.0], [0.0]], dtype=torch.float64)
    assert distance_correlation(x, y).item() == pytest.approx(10**-0.25, rel=1e-10)


@pytest.mark.parametrize(
    ("n", "dx", "dy", "seed"), [(4, 2, 2, 0), (17, 3, 3, 1), (64, 16, 16, 2), (40, 5, 2, 3)]
)
def test_dcor_matches_package(n: int, dx: int, dy: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dx))
    y = np.tanh(x[:, :dy]) + 0.5 * rng.normal(size=(n, dy))  # dependent, not perfectly
    expected = dcor.distance_correlation(x, y)  # the biased (V-statistic) estimator
    got = distance_correlation(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert got == pytest.approx(expected, abs=1e-5)
    got32 = distance_correlation(torch.from_numpy(x).float(), torch.from_numpy(y).float()).item()
    assert got32 == pytest.approx(expected, abs=1e-4)


def test_dcor_is_one_for_similar_maps() -> None:
    x = torch.randn(20, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert distance_correlation(x, x).item() == pytest.approx(1.0, abs=1e-10)
    # pairwise distances of 2x + 1 are twice those of x; dCor is scale- and shift-invariant
    assert distance_correlation(x, 2 * x + 1).item() == pytest.approx(1.0, abs=1e-10)


def test_dcor_gradients_are_finite_in_degenerate_cases() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(8, 4, generator=gen, requires_grad=True)
    distance_correlation(x, x).backward()
    assert torch.isfinite(x.grad).all()

    base = torch.randn(8, 4, generator=gen)
    base[3] = base[5]  # two coincident rows: a zero off-diagonal distance
    x = base.clone().requires_grad_(True)
    y = torch.randn(8, 4, generator=gen, requires_grad=True)
    value = distance_correlation(x, y)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()

    # all rows of one side equal: dVar² = dCov² = 0, dCor defined as 0 (as `dcor` does)
    same = torch.ones(5, 3, requires_grad=True)
    value = distance_correlation(same, torch.randn(5, 3, generator=gen))
    value.backward()
    assert value.item() == 0.0 and torch.isfinite(same.grad).all()
    x = torch.randn(5, 3, generator=gen, requires_grad=True)
    value = distance_correlation(x, torch.ones(5, 3))
    value.backward()
    assert value.item() == 0.0 and torch.isfinite(x.grad).all()
    assert dcor.distance_correlation(x.detach().numpy(), np.ones((5, 3))) == 0.0


def test_dcor_gradient_matches_finite_differences() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    y = torch.randn(6, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: distance_correlation(a, b), (x, y))


def test_discrepancy_signs() -> None:
    # x - y = [[1, -2], [0, 3]]: mean|.| = 6/4 = 1.5, mean(.)² = 14/4 = 3.5
    x = torch.tensor([[1.0, 0.0], [2.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=torch.float64)
    assert discrepancy(x, y, kind="l1").item() == pytest.approx(-1.5)
    assert discrepancy(x, y, kind="l2").item() == pytest.approx(-3.5)
    # dcor enters with a plus sign: minimising the loss lowers dCor
    assert discrepancy(x, y, kind="dcor").item() == pytest.approx(
        dcor.distance_correlation(x.numpy(), y.numpy())
    )
    assert discrepancy(x, x, kind="dcor").item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown discrepancy"):
        discrepancy(x, y, kind="cos")  # type: ignore[arg-type]


def test_gradient_descent_on_discrepancy_separates() -> None:
    # One small step against the gradient must lower dCor and raise the L1/L2 distances.
    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn(10, 4, dtype=torch.float64, generator=gen)
    y = x0 + 0.3 * torch.randn(10, 4, dtype=torch.float64, generator=gen)
    for kind in ("dcor", "l1", "l2"):
        x = x0.clone().requires_grad_(True)
        before = discrepancy(x, y, kind=kind)
        before.backward()
        after = discrepancy(x.detach() - 1e-2 * x.grad, y, kind=kind)
        assert after < before, kind
