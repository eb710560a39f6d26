#!/usr/bin/env python3
"""Write test/golden/prune/reference.json: an independent PyTorch reference for src/compress/prune.

Written from the papers' definitions (Wanda arXiv 2306.11695, SparseGPT arXiv 2301.00774, OWL arXiv
2310.05175) and the facts in shared/design/methods-pruning.md, with the same tie and threshold rules
as lithe (documented in src/compress/prune/mask.ts and sparsegpt.ts):
  - unstructured masks: stable ascending sort, prune the first floor(len * s) (row or whole layer);
  - N:M: in each group of m, prune the n smallest (stable: lower position first on ties);
  - SparseGPT: per block thresh = sort(w^2 / d^2)[floor(numel * s)], prune <= thresh; N:M chosen every
    m columns from the updated weights; everything here in float64 (the "exact" answer).
Inputs are stored next to the outputs, so the TypeScript test needs no RNG parity. X is a multiple of
1/8 with small integers, so sums of squares and X^T X are exact in both f64 and f32 arithmetic.
Run from the repository root: .venv/bin/python tools/prune_reference.py
"""
import json
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "prune" / "reference.json"
X_SCALE = 0.125


def f32_list(t):
    """Shortest decimal strings that round-trip each f32 value, as JSON numbers."""
    return [float(str(np.float32(v))) for v in np.asarray(t, dtype=np.float32).ravel()]


def mask_string(keep):
    return "".join("1" if k else "0" for k in keep.ravel().tolist())


def unstructured_keep(scores, sparsity, group):
    rows, cols = scores.shape
    flat = scores if group == "row" else scores.reshape(1, -1)
    count = int(flat.shape[1] * sparsity)
    order = torch.sort(flat, dim=-1, stable=True).indices[:, :count]
    keep = torch.ones_like(flat, dtype=torch.bool)
    keep.scatter_(1, order, False)
    return keep.reshape(rows, cols)


def nm_keep(scores, n, m):
    rows, cols = scores.shape
    groups = scores.reshape(rows, cols // m, m)
    order = torch.sort(groups, dim=-1, stable=True).indices[..., :n]
    keep = torch.ones_like(groups, dtype=torch.bool)
    keep.scatter_(2, order, False)
    return keep.reshape(rows, cols)


def sparsegpt(w, h, sparsity, nm, block_size, percdamp=0.01):
    """SparseGPT's OBS pruning with lazy block updates, in float64."""
    w = w.clone().double()
    h = h.clone().double()
    rows, cols = w.shape
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += percdamp * torch.mean(torch.diag(h)) * torch.eye(cols, dtype=torch.float64)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    keep_all = torch.ones_like(w, dtype=torch.bool)
    for i1 in range(0, cols, block_size):
        i2 = min(i1 + block_size, cols)
        w1 = w[:, i1:i2].clone()
        d = torch.diag(hinv[i1:i2, i1:i2])
        err1 = torch.zeros_like(w1)
        if nm is None:
            loss = w1**2 / d**2
            thresh = torch.sort(loss.flatten())[0][int(loss.numel() * sparsity)]
            pruned = loss <= thresh
        else:
            pruned = torch.zeros_like(w1, dtype=torch.bool)
        for i in range(i2 - i1):
            if nm is not None and i % nm[1] == 0:
                n, m = nm
                loss = w1[:, i : i + m] ** 2 / d[i : i + m] ** 2
                order = torch.sort(loss, dim=1, stable=True).indices[:, :n]
                pruned[:, i : i + m] = False
                pruned[:, i : i + m].scatter_(1, order, True)
            q = torch.where(pruned[:, i], 0.0, w1[:, i])
            err = (w1[:, i] - q) / d[i]
            w1[:, i:] -= err[:, None] * hinv[i1 + i, i1:i2][None, i:]
            w1[:, i] = q
            err1[:, i] = err
        w[:, i1:i2] = w1
        keep_all[:, i1:i2] = ~pruned
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return w, keep_all


def outlier_ratio(score_list, m):
    flat = torch.cat([s.double().flatten() for s in score_list])
    return float((flat > flat.mean() * m).sum()) / flat.numel() * 100


def owl_sparsities(ratios, target, lam):
    d = np.array(ratios, dtype=np.float64)
    density = (d - d.min()) * (1 / (d.max() - d.min()) * lam * 2)
    density = density - density.mean() + (1 - target)
    sparsity = 1 - density
    return np.where(sparsity <= 0, 0.01, sparsity).tolist()


def make_case(rng, rows, cols, tokens, outlier_cols, dead_cols, sparsegpt_runs):
    mix = np.eye(cols) + 0.3 * rng.standard_normal((cols, cols))
    x = rng.standard_normal((tokens, cols)) @ mix
    x[:, outlier_cols] *= 6
    x[:, dead_cols] = 0
    x_int = np.clip(np.round(x / X_SCALE), -360, 360).astype(np.int64)
    w = rng.standard_normal((rows, cols)).astype(np.float32) * np.float32(0.2)

    xt = torch.tensor(x_int, dtype=torch.float64) * X_SCALE
    wt = torch.tensor(w)
    norms_sq = (xt**2).sum(0)
    h = 2 / tokens * (xt.T @ xt)
    magnitude = wt.abs()
    wanda = (wt.double().abs() * norms_sq.sqrt()[None, :]).float()
    masks = {}
    for name, scores in (("magnitude", magnitude), ("wanda", wanda)):
        for s in (0.5, 0.3):
            for group in ("row", "layer"):
                masks[f"{name}/{group}/{s}"] = mask_string(unstructured_keep(scores, s, group))
        for n, m in ((2, 4), (4, 8)):
            masks[f"{name}/{n}:{m}"] = mask_string(nm_keep(scores, n, m))
    runs = []
    for sparsity, nm, block_size in sparsegpt_runs:
        pruned, keep = sparsegpt(wt, h, sparsity, nm, block_size)
        runs.append(
            {
                "sparsity": sparsity,
                "nm": nm,
                "blockSize": block_size,
                "weights": f32_list(pruned.numpy()),
                "mask": mask_string(keep),
            }
        )
    return {
        "rows": rows,
        "cols": cols,
        "tokens": tokens,
        "w": f32_list(w),
        "xScale": X_SCALE,
        "xInt": x_int.ravel().tolist(),
        "normsSq": norms_sq.tolist(),
        "masks": masks,
        "sparsegpt": runs,
        "outlierRatio": {str(m): outlier_ratio([wanda, magnitude], m) for m in (2, 3, 5)},
    }


def main():
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(20261127)
    cases = {
        # several 32-column blocks, one dead input column, two outlier columns
        "a": make_case(
            rng, 24, 64, 128, [3, 17], [5],
            [(0.5, None, 32), (0.5, None, 128), (0.5, [2, 4], 32), (0.5, [2, 4], 128)],
        ),
        # fewer tokens than columns: H is singular until damped; three 32-column blocks
        "b": make_case(rng, 12, 96, 64, [40], [], [(0.5, None, 32), (0.6, None, 64), (0.5, [4, 8], 32)]),
    }
    owl = []
    for ratios, target, lam in (
        ([12.5, 3.1, 7.7, 20.0, 9.4, 5.5], 0.7, 0.08),
        ([1.0, 2.0, 4.0, 8.0], 0.5, 0.2),
        ([0.0, 10.0, 30.0], 0.05, 0.1),  # low target: one block clamps to 0.01
    ):
        sparsities = owl_sparsities(ratios, target, lam)
        owl.append({"ratios": ratios, "target": target, "lambda": lam, "sparsities": sparsities})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"cases": cases, "owl": owl}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
