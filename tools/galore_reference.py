#!/usr/bin/env python3
"""An independent PyTorch GaLore-AdamW, written from the paper (arXiv 2403.03507) and galore-torch's semantics.

For a 2-D parameter W with gradient G (m x n) in a group with a rank:
- at step 0 and whenever step % update_proj_gap == 0 (step counted before the increment) the projections are taken
  from an SVD of G: P = U[:, :r] and/or Q = Vh[:r] (r = min(rank, m, n)); 'std' projects the smaller side (Q when
  m >= n), 'reverse_std' the larger, 'left' / 'right' that side, 'full' both;
- R = P^T G, G Q^T or P^T G Q^T; Adam's moments live in R's shape and are kept across refreshes;
- N = m / (sqrt(v) + eps), step = lr * sqrt(1 - beta2^t) / (1 - beta1^t) (bias correction in the step size);
- W -= step * scale * (P N, N Q or P N Q), then decoupled weight decay W -= lr * wd * W.
Groups without a rank are torch.optim.AdamW.

Two choices that make the trajectory comparable with lithe's, both deliberate:
- the SVD runs in float64 on the float32 gradient and the vectors are rounded to float32 (lithe's svd is f64);
  galore-torch's float32 SVD differs from it by the f32 rounding of the vectors (make_galore_golden.py reports how far);
- canonical signs: each singular pair (U[:, i], Vh[i]) is flipped so that the largest-|.| entry of U[:, i] (the first
  on ties) is positive. The moments are not rotated at a refresh, so after one the trajectory depends on the signs.
"""
import math

import torch

PROJ_TYPES = ("std", "reverse_std", "left", "right", "full")


def canonical_svd(g, svd_dtype=torch.float64):
    """Thin SVD of g (float32) computed in svd_dtype, with canonical signs, vectors as float32."""
    u, s, vh = torch.linalg.svd(g.to(svd_dtype), full_matrices=False)
    rows = u.abs().argmax(dim=0)
    signs = torch.sign(u[rows, torch.arange(u.shape[1])])
    return (u * signs).float(), s.float(), (vh * signs[:, None]).float()


def projected_sides(shape, proj_type):
    tall = shape[0] >= shape[1]
    return {
        "std": (not tall, tall),
        "reverse_std": (tall, not tall),
        "left": (True, False),
        "right": (False, True),
        "full": (True, True),
    }[proj_type]


class GaLoreProjection:
    """The projections of one parameter: P: [m, r] and/or Q: [r, n]."""

    def __init__(self, shape, rank, proj_type, svd_dtype):
        self.left, self.right = projected_sides(shape, proj_type)
        self.r = min(rank, shape[0], shape[1])
        self.svd_dtype = svd_dtype
        self.p = None
        self.q = None

    def refresh(self, g):
        u, _, vh = canonical_svd(g, self.svd_dtype)
        self.p = u[:, : self.r].contiguous() if self.left else None
        self.q = vh[: self.r].contiguous() if self.right else None

    def down(self, g):
        if self.left:
            g = self.p.t() @ g
        if self.right:
            g = g @ self.q.t()
        return g

    def up(self, n):
        if self.left:
            n = self.p @ n
        if self.right:
            n = n @ self.q
        return n


class GaLoreAdamW(torch.optim.Optimizer):
    """Groups: {params, rank, update_proj_gap, scale, proj_type, lr, betas, eps, weight_decay}; no rank: torch AdamW."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, svd_dtype=torch.float64):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, rank=None, update_proj_gap=200,
                        scale=0.25, proj_type="std")
        super().__init__(params, defaults)
        self.svd_dtype = svd_dtype
        self.plain = {}
        for i, group in enumerate(self.param_groups):
            if group["rank"] is None:
                self.plain[i] = torch.optim.AdamW(group["params"], lr=group["lr"], betas=group["betas"],
                                                  eps=group["eps"], weight_decay=group["weight_decay"],
                                                  foreach=False)

    @torch.no_grad()
    def step(self):
        for i, group in enumerate(self.param_groups):
            if group["rank"] is None:
                self.plain[i].param_groups[0]["lr"] = group["lr"]
                self.plain[i].step()
                continue
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.float()
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["projection"] = GaLoreProjection(p.shape, group["rank"], group["proj_type"], self.svd_dtype)
                projection = state["projection"]
                if state["step"] % group["update_proj_gap"] == 0:
                    projection.refresh(g)
                low = projection.down(g)
                if "exp_avg" not in state:
                    state["exp_avg"] = torch.zeros_like(low)
                    state["exp_avg_sq"] = torch.zeros_like(low)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(low, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(low, low, value=1 - beta2)
                direction = m / (v.sqrt() + group["eps"])
                step_size = group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t)
                p.add_(projection.up(direction) * group["scale"], alpha=-step_size)
                if group["weight_decay"] > 0:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
