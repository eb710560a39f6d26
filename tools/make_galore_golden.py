#!/usr/bin/env python3
"""Write test/golden/optim/galore.json: tools/galore_reference.py's GaLore-AdamW for 50 steps on small f32 matrices.

Each case is one optimiser over stored initial parameters and a stored gradient sequence (4 significant digits, read
by both sides as the same f32 values), so the TypeScript test needs no RNG parity. Gradients are U_t diag(s) V_t^T plus
a little noise, with fresh random U_t, V_t every step and well separated singular values s (ratio 1.6), so that every
refresh finds a different subspace and the rank-r cut is not near a tie. The cases cover tall, wide and square shapes,
every projType, refreshes inside the run and none, weight decay, gradients small enough that eps's place matters, and
a GaLore group beside plain AdamW groups. Parameters are recorded after the steps in SNAPSHOTS.
Also prints how far galore-torch's own float32 SVD would move the result from the float64 SVD used here.
Run from the repository root: .venv/bin/python tools/make_galore_golden.py
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from galore_reference import GaLoreAdamW  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "optim" / "galore.json"
STEPS = 50
SNAPSHOTS = [1, 2, 5, 10, 15, 20, 21, 25, 30, 40, 41, 50]

# Each case: groups of (name, shape) params with their hyperparameters (camelCase, as lithe's options).
CASES = {
    "tall_std_refresh": {
        "groups": [{"params": [["w", [16, 6]]], "rank": 3, "updateProjGap": 20, "weightDecay": 0.1}],
        "options": {"lr": 1e-2, "eps": 1e-6},
    },
    "wide_std_no_refresh": {
        "groups": [{"params": [["w", [5, 12]]], "rank": 2, "updateProjGap": 50, "weightDecay": 0.0}],
        "options": {"lr": 1e-2},
    },
    "square_reverse_std": {
        "groups": [{"params": [["w", [8, 8]]], "rank": 4, "updateProjGap": 15, "scale": 1.0,
                    "projType": "reverse_std", "weightDecay": 0.05}],
        "options": {"lr": 5e-3, "betas": [0.9, 0.95]},
    },
    "tall_left": {
        "groups": [{"params": [["w", [10, 4]]], "rank": 2, "updateProjGap": 25, "projType": "left",
                    "weightDecay": 0.01}],
        "options": {"lr": 1e-2},
    },
    "wide_right": {
        "groups": [{"params": [["w", [4, 9]]], "rank": 3, "updateProjGap": 100, "projType": "right",
                    "weightDecay": 0.1}],
        "options": {"lr": 1e-2},
    },
    "square_full": {
        "groups": [{"params": [["w", [6, 6]]], "rank": 3, "updateProjGap": 10, "projType": "full",
                    "weightDecay": 0.0}],
        # At a refresh Pᵀ G Qᵀ is diagonal up to rounding, and Adam's first step normalises that rounding to ±1
        # unless eps is well above it: galore-torch's eps 1e-6 keeps it, while torch's 1e-8 does not.
        "options": {"lr": 1e-2, "eps": 1e-6},
    },
    "small_grads_full_rank": {
        "groups": [{"params": [["w", [9, 7]]], "rank": 8, "updateProjGap": 12, "weightDecay": 0.1}],
        "options": {"lr": 1e-2, "eps": 1e-6},
        "gradScale": 1e-5,
    },
    "mixed_with_adamw": {
        "groups": [
            {"params": [["w", [12, 5]]], "rank": 2, "updateProjGap": 16, "weightDecay": 0.1},
            {"params": [["dense", [3, 4]]], "weightDecay": 0.1},
            {"params": [["bias", [5]]], "weightDecay": 0.0},
        ],
        "options": {"lr": 1e-2},
    },
}

HYPER_NAMES = {"updateProjGap": "update_proj_gap", "projType": "proj_type", "weightDecay": "weight_decay"}


def rounded(values, digits):
    """f32 values through a decimal of `digits` significant digits, as floats (both sides parse the decimals)."""
    return [float(f"{float(v):.{digits}g}") for v in np.asarray(values, dtype=np.float32).ravel()]


def f32_list(values):
    """f32 values as the shortest decimals that round back to them."""
    return [float(str(v)) for v in np.asarray(values, dtype=np.float32).ravel()]


def orthonormal(rng, rows, cols):
    q, _ = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q


def gradient(rng, shape, scale):
    if len(shape) == 1:
        return scale * rng.standard_normal(shape)
    m, n = shape
    k = min(m, n)
    s = 1.6 ** -np.arange(k)
    g = orthonormal(rng, m, k) @ np.diag(s) @ orthonormal(rng, n, k).T + 1e-3 * rng.standard_normal(shape)
    return scale * g


def play(case, init, grads, svd_dtype):
    params = {name: torch.tensor(v, dtype=torch.float32).reshape(shape) for name, shape, v in init}
    for p in params.values():
        p.requires_grad_(True)
    groups = []
    for g in case["groups"]:
        spec = {HYPER_NAMES.get(k, k): v for k, v in g.items() if k != "params"}
        groups.append({"params": [params[name] for name, _ in g["params"]], **spec})
    options = {HYPER_NAMES.get(k, k): (tuple(v) if k == "betas" else v) for k, v in case["options"].items()}
    opt = GaLoreAdamW(groups, svd_dtype=svd_dtype, **options)
    snapshots = {}
    for step in range(STEPS):
        for name, p in params.items():
            p.grad = torch.tensor(grads[step][name], dtype=torch.float32).reshape(p.shape)
        opt.step()
        if step + 1 in SNAPSHOTS:
            snapshots[step + 1] = {name: p.detach().clone() for name, p in params.items()}
    return snapshots


def main():
    rng = np.random.default_rng(13)
    golden = {"steps": STEPS, "snapshots": SNAPSHOTS, "cases": {}}
    worst_f32_svd = 0.0
    for name, case in CASES.items():
        shapes = [(n, s) for g in case["groups"] for n, s in g["params"]]
        init = [(n, s, rounded(rng.standard_normal(s), 6)) for n, s in shapes]
        scale = case.get("gradScale", 1.0)
        grads = [{n: rounded(gradient(rng, s, scale), 4) for n, s in shapes} for _ in range(STEPS)]
        snapshots = play(case, init, grads, torch.float64)
        f32_snapshots = play(case, init, grads, torch.float32)
        for step, values in snapshots.items():
            for n, v in values.items():
                diff = (f32_snapshots[step][n] - v).abs().max() / v.abs().max()
                worst_f32_svd = max(worst_f32_svd, float(diff))
        golden["cases"][name] = {
            **case,
            "init": {n: v for n, _, v in init},
            "grads": grads,
            "params": {str(step): {n: f32_list(v) for n, v in values.items()} for step, values in snapshots.items()},
        }
    OUT.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    print(f"float32 SVD (galore-torch's) vs float64: max relative difference {worst_f32_svd:.2e}")


if __name__ == "__main__":
    main()
