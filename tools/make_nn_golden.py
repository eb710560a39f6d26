#!/usr/bin/env python3
"""Write test/golden/nn/torch-nn.json: torch.nn's Conv1d, Conv2d, BatchNorm1d/2d and LayerNorm on small f32 tensors.

Each case stores its constructor options, the weights, the inputs, the outputs and the gradients of the loss
sum(y²) with respect to the input and the parameters. BatchNorm cases take several training steps (recording the
running statistics after each) and then one evaluation step on a fresh input. Values are f32, written as their
shortest decimal. Run from the repository root: .venv/bin/python tools/make_nn_golden.py
"""
import json
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "nn" / "torch-nn.json"


def f32_list(t):
    """f32 values as the shortest decimals that round back to them."""
    return [float(str(v)) for v in np.asarray(t.detach().numpy(), dtype=np.float32).ravel()]


def stored(t):
    return {"shape": list(t.shape), "values": f32_list(t)}


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def run_step(module, x):
    """One forward and backward of sum(y²); the input's and parameters' gradients."""
    x = x.clone().requires_grad_()
    module.zero_grad()
    y = module(x)
    (y * y).sum().backward()
    step = {"x": stored(x), "y": stored(y), "dx": stored(x.grad)}
    for name, p in module.named_parameters():
        step["d_" + name] = stored(p.grad)
    return step


def params(module):
    return {name: stored(p) for name, p in module.named_parameters()}


def conv_case(name, cls, args, options, x_shape):
    module = cls(*args, **options)
    return {
        "name": name,
        "module": cls.__name__,
        "args": list(args),
        "options": options,
        "params": params(module),
        "steps": [run_step(module, randn(*x_shape))],
    }


def batchnorm_case(name, cls, features, options, x_shapes, eval_shape):
    module = cls(features, **options)
    with torch.no_grad():
        module.weight.copy_(1 + 0.5 * randn(features))
        module.bias.copy_(0.5 * randn(features))
    case = {"name": name, "module": cls.__name__, "args": [features], "options": options, "params": params(module)}
    module.train()
    steps = []
    for shape in x_shapes:
        # Shifted and scaled inputs, so that the running statistics move away from 0 and 1.
        step = run_step(module, 2 + 3 * randn(*shape))
        step["running_mean"] = f32_list(module.running_mean)
        step["running_var"] = f32_list(module.running_var)
        step["num_batches_tracked"] = int(module.num_batches_tracked)
        steps.append(step)
    case["steps"] = steps
    module.eval()
    case["eval"] = run_step(module, 2 + 3 * randn(*eval_shape))
    return case


def layernorm_case(name, shape, options, x_shape):
    module = torch.nn.LayerNorm(shape, **options)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p + 0.5 * randn(*p.shape))
    return {
        "name": name,
        "module": "LayerNorm",
        "args": [shape],
        "options": options,
        "params": params(module),
        "steps": [run_step(module, randn(*x_shape))],
    }


def main():
    torch.manual_seed(0)
    cases = [
        conv_case("conv1d stride 2, padding 1, groups 2", torch.nn.Conv1d, (4, 6, 3),
                  {"stride": 2, "padding": 1, "groups": 2}, (2, 4, 9)),
        conv_case("conv2d stride (2, 1), padding (1, 2), dilation (2, 1)", torch.nn.Conv2d, (3, 4, (3, 2)),
                  {"stride": [2, 1], "padding": [1, 2], "dilation": [2, 1]}, (2, 3, 7, 5)),
        conv_case("conv2d without bias, groups 3", torch.nn.Conv2d, (3, 6, 2),
                  {"groups": 3, "bias": False}, (1, 3, 4, 4)),
        batchnorm_case("batchnorm1d on [N, C]", torch.nn.BatchNorm1d, 3, {}, [(5, 3), (4, 3), (6, 3)], (3, 3)),
        batchnorm_case("batchnorm1d on [N, C, L], cumulative average", torch.nn.BatchNorm1d, 2,
                       {"momentum": None}, [(3, 2, 4), (2, 2, 5), (4, 2, 3)], (2, 2, 4)),
        batchnorm_case("batchnorm2d, momentum 0.3, eps 1e-3", torch.nn.BatchNorm2d, 3,
                       {"momentum": 0.3, "eps": 1e-3}, [(2, 3, 3, 4), (3, 3, 2, 2)], (2, 3, 2, 3)),
        layernorm_case("layernorm over [3, 4]", [3, 4], {}, (2, 3, 4)),
        layernorm_case("layernorm over [5], no bias, eps 1e-3", [5], {"bias": False, "eps": 1e-3}, (2, 2, 5)),
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
