#!/usr/bin/env python3
"""An independent PyTorch Q-GaLore step, written from the paper (arXiv 2407.08296) and the Q-GaLore repository's
semantics, for one rank group of 2-D weights held as integer codes.

- Quantiser (weights int8, projections int4): asymmetric, unsigned, per group of `group_size` contiguous elements of
  a row (the last group of a row may be shorter). lithe's fix of the reference's known bug: the group's range is
  widened to contain 0, so a group whose values share one sign keeps its resolution:
  lo = min(min w, 0), hi = max(max w, 0), s = max(hi - lo, 1e-5) / (2^b - 1), z = clamp(-round(lo / s), 0, 2^b - 1),
  q = clamp(round(w / s) + z, 0, 2^b - 1), w^ = s (q - z); all in float32, round half to even.
- A step: W = dequantise(codes); GaLore's update (tools/galore_reference.py: Adam on R = P^T G or G Q^T, bias
  correction in the step size, W -= step * scale * (P N or N Q), then W *= 1 - lr * wd) with the projection used in
  its dequantised int4 form; then the codes are requantised (here: rounding to nearest, so that a trajectory is
  deterministic; lithe's default, stochastic rounding, draws from its own generator).
- Refresh when step % gap == 0 (step before the increment): canonical-sign SVD, P = U[:, :r] or Q = Vh[:r], quantised
  to int4. Lazy subspace: from the second refresh on, |cos| between the new and previous top singular vector (Vh[0]
  for a right projection, U[:, 0] for a left one) joins a window of the last `window` values; once the window is full
  and its mean >= cos_threshold, the gap doubles (the window is kept, as in the reference).
"""
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from galore_reference import canonical_svd, projected_sides  # noqa: E402


def quantize(w, bits, group_size):
    """Codes (int64 tensor of w's shape), scales and zeros ([rows, groups] float32) of a 2-D float32 w."""
    top = 2**bits - 1
    rows, cols = w.shape
    codes = torch.zeros(rows, cols, dtype=torch.int64)
    groups = math.ceil(cols / group_size)
    scales = torch.zeros(rows, groups, dtype=torch.float32)
    zeros = torch.zeros(rows, groups, dtype=torch.float32)
    for g in range(groups):
        block = w[:, g * group_size:(g + 1) * group_size]
        lo = torch.clamp(block.amin(dim=1, keepdim=True), max=0)
        hi = torch.clamp(block.amax(dim=1, keepdim=True), min=0)
        s = torch.clamp(hi - lo, min=1e-5) / top
        z = torch.clamp(-torch.round(lo / s), 0, top)
        codes[:, g * group_size:(g + 1) * group_size] = torch.clamp(torch.round(block / s) + z, 0, top).long()
        scales[:, g:g + 1] = s
        zeros[:, g:g + 1] = z
    return codes, scales, zeros


def dequantize(codes, scales, zeros, group_size):
    cols = codes.shape[1]
    out = torch.zeros(codes.shape, dtype=torch.float32)
    for g in range(scales.shape[1]):
        sl = slice(g * group_size, min((g + 1) * group_size, cols))
        out[:, sl] = scales[:, g:g + 1] * (codes[:, sl].float() - zeros[:, g:g + 1])
    return out


class QGaLoreWeight:
    """One quantised weight and its optimiser state."""

    def __init__(self, w, rank, group_size, weight_bits=8, proj_bits=4):
        self.group_size, self.weight_bits, self.proj_bits = group_size, weight_bits, proj_bits
        self.codes = quantize(w, weight_bits, group_size)
        self.left, self.right = projected_sides(w.shape, "std")
        self.r = min(rank, *w.shape)
        self.projection = None  # the dequantised int4 P or Q
        self.top = None
        self.window = []
        self.step = 0
        self.svds = 0
        self.exp_avg = None
        self.exp_avg_sq = None

    @property
    def weight(self):
        return dequantize(*self.codes, self.group_size)

    def refresh(self, g, lazy):
        u, _, vh = canonical_svd(g)
        p = u[:, : self.r] if self.left else vh[: self.r]
        self.projection = dequantize(*quantize(p.contiguous(), self.proj_bits, self.group_size), self.group_size)
        top = vh[0] if self.right else u[:, 0]
        if lazy and self.top is not None:
            if len(self.window) == lazy["window"]:
                self.window.pop(0)
            self.window.append(float(torch.dot(top, self.top).abs()))
            if len(self.window) == lazy["window"] and sum(self.window) / lazy["window"] >= lazy["cosThreshold"]:
                self.gap *= 2
        self.top = top.clone()
        self.svds += 1

    def update(self, g, lr, betas, eps, weight_decay, scale, lazy):
        if self.step % self.gap == 0:
            self.refresh(g, lazy)
        low = self.projection.t() @ g if self.left else g @ self.projection.t()
        if self.exp_avg is None:
            self.exp_avg = torch.zeros_like(low)
            self.exp_avg_sq = torch.zeros_like(low)
        self.step += 1
        beta1, beta2 = betas
        self.exp_avg.mul_(beta1).add_(low, alpha=1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(low, low, value=1 - beta2)
        direction = self.exp_avg / (self.exp_avg_sq.sqrt() + eps)
        step_size = lr * math.sqrt(1 - beta2**self.step) / (1 - beta1**self.step)
        back = self.projection @ direction if self.left else direction @ self.projection
        w = self.weight
        w.add_(back * scale, alpha=-step_size)
        if weight_decay > 0:
            w.mul_(1 - lr * weight_decay)
        self.codes = quantize(w, self.weight_bits, self.group_size)
