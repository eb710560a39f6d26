#!/usr/bin/env python3
"""Write test/golden/optim/torch-optim.json: torch's AdamW and SGD on small f32 tensors.

Each run takes 20 steps on the same four parameters in two groups (weight decay in the first only),
from stored initial values and a stored gradient sequence (one parameter has no gradient at one step),
so the TypeScript tests need no RNG parity. Before every step the gradients are clipped to norm 1.0
and the LR is set by a transformers warmup-cosine schedule; the file records the LRs, the clipping
norms and every parameter after every step. Values are f32, written as their shortest decimal.
Also records transformers' LR-schedule factors for a range of steps.
Run from the repository root: .venv/bin/python tools/make_optim_golden.py
"""
import json
from pathlib import Path

import numpy as np
import torch
from transformers.optimization import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "optim" / "torch-optim.json"
STEPS = 20
MAX_NORM = 1.0
WARMUP = 3
NAMES = ["w1", "w2", "bias", "norm"]
SHAPES = [[4, 8], [3, 6], [5], [8]]
# (step, parameter) pairs with no gradient: the optimiser must skip them and leave their state alone.
NO_GRAD = {(7, 2), (8, 2), (12, 3)}

RUNS = {
    "adamw": {
        "optimizer": "AdamW",
        "options": {},
        "groups": [{"lr": 1e-2, "weightDecay": 0.1}, {"lr": 2e-2, "weightDecay": 0.0}],
        "schedule": {"kind": "cosine", "warmupSteps": WARMUP, "totalSteps": STEPS},
    },
    "adamw_amsgrad": {
        "optimizer": "AdamW",
        "options": {"betas": [0.8, 0.99], "eps": 1e-6, "amsgrad": True},
        "groups": [{"lr": 1e-2, "weightDecay": 0.1}, {"lr": 2e-2, "weightDecay": 0.0}],
        "schedule": {"kind": "cosine", "warmupSteps": WARMUP, "totalSteps": STEPS, "minLrRatio": 0.1},
    },
    "sgd_momentum": {
        "optimizer": "SGD",
        "options": {"momentum": 0.9},
        "groups": [{"lr": 0.1, "weightDecay": 0.1}, {"lr": 0.05, "weightDecay": 0.0}],
        "schedule": {"kind": "cosine", "warmupSteps": WARMUP, "totalSteps": STEPS, "minLrRatio": 0.1},
    },
    "sgd_nesterov": {
        "optimizer": "SGD",
        "options": {"momentum": 0.9, "nesterov": True},
        "groups": [{"lr": 0.1, "weightDecay": 0.1}, {"lr": 0.05, "weightDecay": 0.0}],
        "schedule": {"kind": "cosine", "warmupSteps": WARMUP, "totalSteps": STEPS},
    },
    "sgd_dampening": {
        "optimizer": "SGD",
        "options": {"momentum": 0.5, "dampening": 0.3},
        "groups": [{"lr": 0.1, "weightDecay": 0.1}, {"lr": 0.05, "weightDecay": 0.0}],
        "schedule": {"kind": "cosine", "warmupSteps": WARMUP, "totalSteps": STEPS},
    },
}


def f32_list(values):
    """f32 values as the shortest decimals that round back to them."""
    return [float(str(v)) for v in np.asarray(values, dtype=np.float32).ravel()]


def make_scheduler(opt, schedule):
    if "minLrRatio" in schedule:
        return get_cosine_with_min_lr_schedule_with_warmup(
            opt, schedule["warmupSteps"], schedule["totalSteps"], min_lr_rate=schedule["minLrRatio"]
        )
    return get_cosine_schedule_with_warmup(opt, schedule["warmupSteps"], schedule["totalSteps"])


def make_optimizer(run, params):
    groups = [
        {"params": params[:2], "lr": run["groups"][0]["lr"], "weight_decay": run["groups"][0]["weightDecay"]},
        {"params": params[2:], "lr": run["groups"][1]["lr"], "weight_decay": run["groups"][1]["weightDecay"]},
    ]
    options = run["options"]
    if run["optimizer"] == "AdamW":
        return torch.optim.AdamW(
            groups,
            betas=tuple(options.get("betas", (0.9, 0.999))),
            eps=options.get("eps", 1e-8),
            amsgrad=options.get("amsgrad", False),
            foreach=False,
        )
    return torch.optim.SGD(
        groups,
        momentum=options["momentum"],
        dampening=options.get("dampening", 0.0),
        nesterov=options.get("nesterov", False),
        foreach=False,
    )


def play(run, init, grads):
    params = [torch.tensor(v, dtype=torch.float32).reshape(s).requires_grad_() for v, s in zip(init, SHAPES)]
    opt = make_optimizer(run, params)
    scheduler = make_scheduler(opt, run["schedule"])
    lrs, norms, after = [], [], []
    for step in range(STEPS):
        for p, g, s in zip(params, grads[step], SHAPES):
            p.grad = None if g is None else torch.tensor(g, dtype=torch.float32).reshape(s)
        norms.append(f32_list([torch.nn.utils.clip_grad_norm_(params, MAX_NORM).item()])[0])
        lrs.append([group["lr"] for group in opt.param_groups])
        opt.step()
        scheduler.step()
        after.append([f32_list(p.detach().numpy()) for p in params])
    return {**run, "lr": lrs, "totalNorm": norms, "params": after}


def schedule_factors():
    """transformers' lr_lambda values for steps 0..24, read off LambdaLR with a base lr of 1."""
    makers = {
        "cosine": lambda o: get_cosine_schedule_with_warmup(o, 3, 20),
        "cosine_min": lambda o: get_cosine_with_min_lr_schedule_with_warmup(o, 3, 20, min_lr_rate=0.1),
        "cosine_cycles": lambda o: get_cosine_schedule_with_warmup(o, 0, 10, num_cycles=1.5),
        "linear": lambda o: get_linear_schedule_with_warmup(o, 3, 20),
        "constant": lambda o: get_constant_schedule_with_warmup(o, 3),
    }
    out = {}
    for name, make in makers.items():
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        scheduler = make(opt)
        values = []
        for _ in range(25):
            values.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        out[name] = values
    return out


def main():
    rng = np.random.default_rng(20260127)
    init = [f32_list(rng.standard_normal(s) * 0.5) for s in SHAPES]
    grads = []
    for step in range(STEPS):
        # Per-step scales put the total norm both above and below MAX_NORM, so clipping is exercised both ways.
        scale = rng.uniform(0.03, 0.4)
        grads.append(
            [None if (step, i) in NO_GRAD else f32_list(rng.standard_normal(s) * scale) for i, s in enumerate(SHAPES)]
        )
    golden = {
        "names": NAMES,
        "shapes": SHAPES,
        "maxNorm": MAX_NORM,
        "init": init,
        "grads": grads,
        "runs": {name: play(run, init, grads) for name, run in RUNS.items()},
        "schedules": schedule_factors(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
