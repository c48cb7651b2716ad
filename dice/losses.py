"""Loss terms shared by every method: BPR, masked BPR and DICE's discrepancy.

Pure torch functions of score tensors. Means are taken over all B·K (positive, negative) entries,
masked entries included as zeros, as in the official code (official-code.md §2.3, §2.5, §2.7).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

DiscrepancyKind = Literal["dcor", "l1", "l2"]


def bpr(
    pos: torch.Tensor, neg: torch.Tensor, *, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Bayesian personalised ranking loss, averaged over all B·K pairs.

    Math: L = -1/(B K) Σ_b Σ_k w_b · log σ(pos_b - neg_bk)  (official-code §2.3; §2.5 for w).

    Args:
        pos: (B,) scores of the positives.
        neg: (B, K) scores of their K negatives.
        weight: optional (B,) weight of each row (IPS: the positive item's propensity weight).

    Returns:
        A scalar tensor. ``logsigmoid`` keeps it finite for large negative differences, where the
        official ``log(sigmoid(.))`` underflows to -inf.
    """
    losses = -F.logsigmoid(pos.unsqueeze(1) - neg)  # (B, K)
    if weight is not None:
        losses = losses * weight.unsqueeze(1)
    return losses.mean()


def masked_bpr(diff: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BPR on score differences, counting only the entries where `mask` is set.

    Math: L = -1/(B K) Σ_bk m_bk · log σ(diff_bk). The divisor is all B·K entries, not the
    number of masked ones, as in DICE's L_int and L_con (official-code §2.7, "Losses").

    Args:
        diff: (B, K) score differences, positive minus negative (or reversed, for O2 in L_con).
        mask: (B, K) bool or 0/1 float mask.
    """
    return -(mask.to(diff.dtype) * F.logsigmoid(diff)).mean()


def _safe_sqrt(t: torch.Tensor, eps: float) -> torch.Tensor:
    """sqrt(t) where t > eps, else 0; the gradient is finite everywhere (0 below eps)."""
    ok = t > eps
    return torch.where(ok, torch.sqrt(torch.where(ok, t, torch.ones_like(t))), torch.zeros_like(t))


def _centred_distances(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Double-centred pairwise Euclidean distance matrix (n, n) of the rows of `x`."""
    x = x - x.mean(dim=0, keepdim=True)  # distances are shift-invariant; less cancellation below
    sq = (x * x).sum(dim=1)  # (n,)
    d2 = sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * (x @ x.T)  # (n, n), Gram form, no n×n×d tensor
    eye = torch.eye(len(x), dtype=torch.bool, device=x.device)
    dist = _safe_sqrt(d2.masked_fill(eye, 0.0), eps)  # coincident rows: distance 0, gradient 0
    return dist - dist.mean(dim=0, keepdim=True) - dist.mean(dim=1, keepdim=True) + dist.mean()


def distance_correlation(x: torch.Tensor, y: torch.Tensor, *, eps: float = 1e-9) -> torch.Tensor:
    """Sample distance correlation (Székely et al. 2007, V-statistic / biased estimator).

    Math: A, B = double-centred distance matrices of the rows of x and y;
    dCov² = mean(A∘B), dVar²_x = mean(A∘A), dVar²_y = mean(B∘B);
    dCor = sqrt(dCov²) / (dVar²_x · dVar²_y)^(1/4)  (official-code §2.7, "Discrepancy").

    Distances use the Gram form sqrt(|x_k|² + |x_l|² - 2 x_k·x_l) (official-code §4), so memory
    is O(n²), not O(n²d). Squared quantities at or below `eps` count as 0 (dCov² is thereby
    clamped at 0), and 0/0 gives 0, so the value and its gradient stay finite when x == y, when
    rows coincide, or when all rows are equal. Matches ``dcor.distance_correlation``.

    Args:
        x: (n, d) embeddings (e.g. interest embeddings of the batch's unique items).
        y: (n, d') embeddings of the same n entities (e.g. their conformity embeddings).
        eps: threshold below which squared distances, dCov² and dVar² products count as 0.

    Returns:
        A scalar in [0, 1].
    """
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"need (n, d) and (n, d') tensors, got {tuple(x.shape)}, {tuple(y.shape)}")
    a = _centred_distances(x, eps)  # (n, n)
    b = _centred_distances(y, eps)  # (n, n)
    dcov = _safe_sqrt((a * b).mean(), eps)  # sqrt(dCov²_xy)
    denom = torch.sqrt(_safe_sqrt((a * a).mean() * (b * b).mean(), eps))  # (dVar²_x dVar²_y)^¼
    ok = denom > 0
    return torch.where(ok, dcov / torch.where(ok, denom, torch.ones_like(denom)), dcov * 0.0)


def discrepancy(x: torch.Tensor, y: torch.Tensor, *, kind: DiscrepancyKind) -> torch.Tensor:
    """The discrepancy term that is ADDED to the loss (multiplied by β) to separate x from y.

    Sign convention (official-code §2.7; paper eq. 10 with the three options of §3.3):
    - ``"dcor"``: +dCor(x, y), so distance correlation is minimised;
    - ``"l1"``: -mean|x - y| (L1-inv), so the paired L1 distance is maximised;
    - ``"l2"``: -mean (x - y)² (L2-inv), so the paired squared distance is maximised.
    The official code returns the negated distance and subtracts β·D; the net effect is the same.

    Args:
        x: (n, d) interest embeddings of n entities.
        y: (n, d) conformity embeddings of the same entities, row for row.
        kind: which discrepancy.
    """
    if kind == "dcor":
        return distance_correlation(x, y)
    if kind == "l1":
        return -(x - y).abs().mean()
    if kind == "l2":
        return -(x - y).pow(2).mean()
    raise ValueError(f"unknown discrepancy kind {kind!r}; expected 'dcor', 'l1' or 'l2'")
