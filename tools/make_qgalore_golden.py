#!/usr/bin/env python3
"""Write test/golden/optim/qgalore.json: tools/qgalore_reference.py's Q-GaLore for 24 steps on small weights.

Each case is one weight (stored f32 initial values, quantised to int8 by both sides) with a stored gradient sequence
(4 significant digits), rounding to nearest, int4 projections, groups of 8. The cases cover a tall weight (right
projection) and a wide one (left), weight decay, and the lazy subspace: with cosThreshold 0 the gap doubles from the
window's first fill on; with gradients that keep their subspace the |cos| values are near 1; with fresh random
subspaces they stay low and the gap does not move. Recorded after the steps in SNAPSHOTS: the dequantised weights and
the SVD count. Run from the repository root: .venv/bin/python tools/make_qgalore_golden.py
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_galore_golden import f32_list, orthonormal, rounded  # noqa: E402
from qgalore_reference import QGaLoreWeight  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "optim" / "qgalore.json"
STEPS = 24
SNAPSHOTS = [1, 2, 5, 12, 24]
GROUP = 8

CASES = {
    "tall_lazy_always": {"shape": [24, 16], "rank": 4, "updateProjGap": 2, "weightDecay": 0.1,
                         "lazy": {"cosThreshold": 0.0, "window": 2}, "subspace": "fresh"},
    "wide_lazy_still": {"shape": [12, 28], "rank": 3, "updateProjGap": 2, "weightDecay": 0.0,
                        "lazy": {"cosThreshold": 0.4, "window": 3}, "subspace": "still"},
    "tall_lazy_moving": {"shape": [20, 20], "rank": 5, "updateProjGap": 3, "weightDecay": 0.05,
                         "lazy": {"cosThreshold": 0.4, "window": 2}, "subspace": "fresh"},
    "wide_not_lazy": {"shape": [12, 24], "rank": 4, "updateProjGap": 7, "weightDecay": 0.1, "lazy": None,
                      "subspace": "fresh"},
}
OPTIONS = {"lr": 1e-2, "betas": [0.9, 0.95], "eps": 1e-6, "scale": 0.25}


def main():
    rng = np.random.default_rng(29)
    golden = {"steps": STEPS, "snapshots": SNAPSHOTS, "groupSize": GROUP, "options": OPTIONS, "cases": {}}
    for name, case in CASES.items():
        m, n = case["shape"]
        init = rounded(0.3 * rng.standard_normal((m, n)), 6)
        k = min(m, n)
        s = np.diag(1.6 ** -np.arange(k))
        fixed = (orthonormal(rng, m, k), orthonormal(rng, n, k))
        grads = []
        for _ in range(STEPS):
            u, v = fixed if case["subspace"] == "still" else (orthonormal(rng, m, k), orthonormal(rng, n, k))
            grads.append(rounded(u @ s @ v.T + 1e-2 * rng.standard_normal((m, n)), 4))
        weight = QGaLoreWeight(torch.tensor(init, dtype=torch.float32).reshape(m, n), case["rank"], GROUP)
        weight.gap = case["updateProjGap"]
        snapshots = {}
        for step in range(STEPS):
            g = torch.tensor(grads[step], dtype=torch.float32).reshape(m, n)
            weight.update(g, OPTIONS["lr"], OPTIONS["betas"], OPTIONS["eps"], case["weightDecay"], OPTIONS["scale"],
                          case["lazy"])
            if step + 1 in SNAPSHOTS:
                snapshots[str(step + 1)] = {"weight": f32_list(weight.weight), "svds": weight.svds}
        golden["cases"][name] = {**case, "init": init, "grads": grads, "snapshots": snapshots}
        print(f"{name}: {weight.svds} SVDs in {STEPS} steps, final gap {weight.gap}")
    OUT.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
