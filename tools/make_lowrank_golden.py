"""Golden of low-rank compression's rank logic on the tiny test models (test/golden/models/*), from
tools/lowrank_reference.py's rules. lithe's rank search must reproduce it. Run from the repo root:
    .venv/bin/python tools/make_lowrank_golden.py

test/golden/lowrank/tiny.json: {errTolerance, models: {<model>: {parameters, modules, cases}}}
  - parameters: every parameter of the checkpoint (tied embeddings once);
  - modules: [{name, shape: [out, in], singularValues}] in block order q,k,v,o,gate,up,down; the singular
    values are the f64 SVD of the f32 weight rounded to f32, descending (lithe's own SVD must match to f32);
  - cases: [{method, targetErr, minRatio, tau, gap, withinTolerance, achievedErr, ranks, stored, parametersAfter}]
    with ranks and stored in the modules' order; welore's tau is the midpoint of the gap [a, b] between the two
    consecutive pooled normalised singular values it falls between (b - a says how robust it is to rounding);
    tau is bisected on [0, 1] from 0.5, stopping at the first tau within errTolerance; withinTolerance is false
    when none reaches it (one component is 1/416 of llama's ERR, 1/384 of qwen2's and mistral's; with min-ratio
    a whole matrix joins at once), and the case then holds the side of the crossing closer to the target (ties:
    the lower ERR); svd cases have tau and gap null.
"""
import json
import os

import numpy as np
import torch
from safetensors.torch import load_file

from lowrank_reference import ERR_TOLERANCE, Spectrum, decoder_linear_names, parameters_after, plan

ROOT = os.path.join(os.path.dirname(__file__), "..", "test", "golden")
MODELS = ("llama", "qwen2", "mistral")
CASES = [("welore", err, 0.0) for err in (0.1, 0.3, 0.5, 0.7)]
CASES += [("welore", 0.5, 0.4999)]
CASES += [("svd", err, 0.0) for err in (0.1, 0.3, 0.5, 0.7)]


def f32(values):
    # The shortest decimal that reads back as the same f32.
    return [float(str(v)) for v in np.asarray(values, dtype=np.float32)]


def golden_for(model_dir):
    tensors = load_file(os.path.join(model_dir, "model.safetensors"))
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    parameters = sum(t.numel() for t in tensors.values())
    spectra = []
    for name in decoder_linear_names(config["num_hidden_layers"]):
        w = tensors[f"{name}.weight"].float()
        values = torch.linalg.svdvals(w.double()).float()
        spectra.append(Spectrum(name, list(w.shape), values))
    cases = []
    for method, err, min_ratio in CASES:
        tau, gap, within, modules, achieved = plan(spectra, method, err, min_ratio)
        cases.append({
            "method": method,
            "targetErr": err,
            "minRatio": min_ratio,
            "tau": tau,
            "gap": list(gap) if gap else None,
            "withinTolerance": within,
            "achievedErr": achieved,
            "ranks": [m["rank"] for m in modules],
            "stored": [m["stored"] for m in modules],
            "parametersAfter": parameters_after(parameters, modules),
        })
    return {
        "parameters": parameters,
        "modules": [{"name": sp.name, "shape": sp.shape, "singularValues": f32(sp.values)} for sp in spectra],
        "cases": cases,
    }


def main():
    golden = {
        "errTolerance": ERR_TOLERANCE,
        "models": {name: golden_for(os.path.join(ROOT, "models", name)) for name in MODELS},
    }
    out = os.path.join(ROOT, "lowrank")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tiny.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
