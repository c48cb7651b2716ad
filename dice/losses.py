"""Loss terms shared by every method: BPR, masked BPR and DICE's discrepancy.

Pure torch functions of score tensors. Means are taken over all B·K (positive, negative) entries,
masked entries included as zeros, as in the authors' code (docs/authors-code.md, sections MF,
IPS and DICE).
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

    Math: L = -1/(B K) Σ_b Σ_k w_b · log σ(pos_b - neg_bk)  (docs/authors-code.md#mf; w: #ips).

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
    number of masked ones, as in DICE's L_int and L_con (docs/authors-code.md#dice, "Losses").

    Args:
        diff: (B, K) score differences, positive minus negative (or reversed, for O2 in L_con).
        mask: (B, K) bool or 0/1 float mask.
    """
    return -(mask.to(diff.dtype) * F.logsigmoid(diff)).mean()


def _centred_distances(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairwise Euclidean distances (n, n) of the rows of `x` and their double-centred version.

    Gram form sqrt(|x_k|² + |x_l|² - 2 x_k·x_l) on mean-centred rows (distances are
    shift-invariant; centring limits cancellation), no n×n×d tensor. Squared distances at or
    below `eps`, and the diagonal, count as 0. In-place passes keep it to one GEMM and a handful
    of n×n sweeps.
    """
    x = x - x.mean(dim=0, keepdim=True)
    sq = (x * x).sum(dim=1, keepdim=True)  # (n, 1)
    one = torch.ones_like(sq)
    # one GEMM gives d²: [x, |x|², 1] · [-2x, 1, |x|²]ᵀ = |x_k|² + |x_l|² - 2 x_k·x_l
    dist = torch.cat([x, sq, one], dim=1) @ torch.cat([-2.0 * x, one, sq], dim=1).T  # (n, n)
    dist.fill_diagonal_(0.0)
    dist = F.threshold_(dist, eps, 0.0).sqrt_()  # d² <= eps → 0
    means = dist.mean(dim=1)  # row means = column means (symmetric)
    centred = dist - means.unsqueeze(1)
    centred.sub_(means.unsqueeze(0) - means.mean())
    return dist, centred


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.dot(a.reshape(-1), b.reshape(-1))


class _DistanceCorrelation(torch.autograd.Function):
    """dCor with a hand-written backward: two GEMMs and a few n×n sweeps per side.

    With S_ab = mean(A∘B), S_aa, S_bb and R = sqrt(S_ab) (S_aa S_bb)^(-1/4): since A and B are
    double-centred, ∂S_ab/∂D_x = B/n² and ∂S_aa/∂D_x = 2A/n², so
    ∂R/∂D_x = R/(2 n² S_ab) · (B - (S_ab/S_aa) A) =: G, and with W = G / D_x (0 where D_x = 0)
    ∂R/∂x = 2 (diag(W 1) - W) x (the centring of x passes this zero-sum gradient unchanged).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        n2 = float(len(x)) ** 2
        dist_x, a = _centred_distances(x.detach(), eps)
        dist_y, b = _centred_distances(y.detach(), eps)
        s_ab, s_aa, s_bb = _dot(a, b) / n2, _dot(a, a) / n2, _dot(b, b) / n2
        prod = s_aa * s_bb
        active = (s_ab > eps) & (prod > eps)  # else dCov² or dVar² counts as 0: value 0, grad 0
        one = torch.ones_like(s_ab)
        value = torch.where(
            active, s_ab.clamp(min=0).sqrt() / prod.clamp(min=eps).pow(0.25), 0 * one
        )
        ctx.save_for_backward(x, y, dist_x, a, dist_y, b, value, s_ab, s_aa, s_bb, active)
        ctx.eps = eps
        return value

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, y, dist_x, a, dist_y, b, value, s_ab, s_aa, s_bb, active = ctx.saved_tensors
        n2, eps = float(len(x)) ** 2, ctx.eps
        scale = torch.where(active, grad * value / (2.0 * n2 * s_ab.clamp(min=eps)), 0 * value)
        grad_x = _side_gradient(x, dist_x, b, a, -torch.where(active, s_ab / s_aa, 0 * value))
        grad_y = _side_gradient(y, dist_y, a, b, -torch.where(active, s_ab / s_bb, 0 * value))
        return grad_x * scale, grad_y * scale, None


def _side_gradient(x, dist, other, own, ratio) -> torch.Tensor:
    """2 (diag(W 1) - W) x with W = J (other + ratio · own) J / dist, 0 where dist = 0.

    `other` and `own` are centred in exact arithmetic; centring their combination again (J·J,
    as autograd through the centring would) removes float32 rounding in their row sums, which
    would otherwise cost about n·ε of relative accuracy in the gradient.
    """
    w = torch.addcmul(other, own, ratio)
    means = w.mean(dim=1)
    w.sub_(means.unsqueeze(1)).sub_(means.unsqueeze(0) - means.mean()).div_(dist)
    w = torch.nan_to_num_(w, nan=0.0, posinf=0.0, neginf=0.0)  # dist = 0: no gradient
    x = x.detach() - x.detach().mean(dim=0, keepdim=True)
    return torch.addmm(w.sum(dim=1, keepdim=True) * x, w, x, alpha=-1.0).mul_(2.0)


def distance_correlation(x: torch.Tensor, y: torch.Tensor, *, eps: float = 1e-9) -> torch.Tensor:
    """Sample distance correlation (Székely et al. 2007, V-statistic / biased estimator).

    Math: A, B = double-centred distance matrices of the rows of x and y;
    dCov² = mean(A∘B), dVar²_x = mean(A∘A), dVar²_y = mean(B∘B);
    dCor = sqrt(dCov²) / (dVar²_x · dVar²_y)^(1/4)  (docs/authors-code.md#dice, "Discrepancy").

    Distances use the Gram form sqrt(|x_k|² + |x_l|² - 2 x_k·x_l), so memory is O(n²), not
    O(n²d); the backward is analytic (`_DistanceCorrelation`), a few times faster than autograd
    through the n×n graph. Squared distances at or below `eps` count as 0 (with gradient 0); if
    dCov² or dVar²_x·dVar²_y is at or below `eps` the value and gradient are 0.
    So the value and its gradient stay finite when x == y, when rows coincide, or when all rows
    are equal. Matches ``dcor.distance_correlation``.

    Args:
        x: (n, d) embeddings (e.g. interest embeddings of the batch's unique items).
        y: (n, d') embeddings of the same n entities (e.g. their conformity embeddings).
        eps: threshold below which squared distances, dCov² and dVar² products count as 0.

    Returns:
        A scalar in [0, 1].
    """
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"need (n, d) and (n, d') tensors, got {tuple(x.shape)}, {tuple(y.shape)}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    return _DistanceCorrelation.apply(x.to(dtype), y.to(dtype), eps)


def discrepancy(x: torch.Tensor, y: torch.Tensor, *, kind: DiscrepancyKind) -> torch.Tensor:
    """The discrepancy term that is ADDED to the loss (multiplied by β) to separate x from y.

    Sign convention (docs/authors-code.md#dice; paper eq. 10 with the three options of §3.3):
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
