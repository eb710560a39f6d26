#!/usr/bin/env python3
"""Write test/golden/prune-pipeline/: tools/prune_pipeline.py's results on a tiny random LLaMA, for
test/compress/prune-pipeline-parity.test.ts to compare lithe's pruneModel against.

Files: config.json + model.safetensors (f32, 3 blocks, hidden 32, MLP 144 so that down_proj spans two of
SparseGPT's 128-column blocks; a few large norm weights per block give OWL distinct outlier ratios) and
golden.json: calibration ids (8 x 32), a probe batch, and per configuration the options, OWL's block
sparsities, the keep masks of all pruned Linears (bits packed MSB first, base64, module order) and the
pruned model's logits on the probe.
The masks must follow from the definitions, not from rounding: a seed is skipped when any cut that depends on
activations (Wanda's, N:M's, SparseGPT's threshold, OWL's outlier threshold) has a relative gap under MIN_GAP,
which rounding differences between two engines could flip. Run from the repository root: .venv/bin/python tools/make_prune_golden.py
"""
import argparse
import base64
import json
from pathlib import Path

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

import prune_pipeline as pp

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "prune-pipeline"
MIN_GAP = 2e-5
CONFIGS = [
    {"method": "magnitude", "sparsity": 0.5},
    {"method": "magnitude", "sparsity": 0.6, "magnitudeGroup": "layer"},
    {"method": "wanda", "sparsity": 0.5},
    {"method": "wanda", "sparsity": 0.7, "allocation": "owl", "owlM": 3, "owlLambda": 0.08},
    {"method": "wanda", "nm": [2, 4]},
    {"method": "sparsegpt", "sparsity": 0.5},
    {"method": "sparsegpt", "sparsity": 0.6, "allocation": "owl", "owlM": 3, "owlLambda": 0.1},
    {"method": "sparsegpt", "nm": [2, 4]},
]

# The smallest relative gap seen at a cut that depends on activations (reset per configuration).
gaps = []
_lowest_mask = pp.lowest_mask
_outlier_ratio = pp.outlier_ratio
_threshold_mask = pp.threshold_mask


def lowest_mask_gap(runs, count):
    """pp.lowest_mask, noting the relative gap between the largest pruned and the smallest kept value of each run."""
    if 0 < count < runs.shape[1]:
        ordered = torch.sort(runs.double(), dim=1).values
        lo, hi = ordered[:, count - 1], ordered[:, count]
        gaps.append(float(((hi - lo) / hi.clamp_min(1e-300)).min()))
    return _lowest_mask(runs, count)


def threshold_mask_gap(loss, sparsity):
    """pp.threshold_mask, noting the relative gap between the largest pruned and the smallest kept loss."""
    ordered = torch.sort(loss.flatten()).values
    k = int(loss.numel() * sparsity)
    if k + 1 < ordered.numel():
        gaps.append(float((ordered[k + 1] - ordered[k]) / ordered[k + 1]))
    return _threshold_mask(loss, sparsity)


def outlier_ratio_gap(scores, m):
    """pp.outlier_ratio, noting how close a score comes to the outlier threshold (relative)."""
    flat = torch.cat([s.flatten() for s in scores]).double()
    threshold = flat.mean() * m
    gaps.append(float(((flat - threshold).abs() / threshold).min()))
    return _outlier_ratio(scores, m)


def make_model(seed):
    config = LlamaConfig(
        vocab_size=96,
        hidden_size=32,
        intermediate_size=144,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        bos_token_id=0,
        eos_token_id=0,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
        # Outlier channels: a different number per block, so the blocks' outlier ratios differ.
        for index, layer in enumerate(model.model.layers):
            channels = torch.randperm(32, generator=gen)[: 1 + 2 * index]
            layer.input_layernorm.weight[channels] *= 8
            layer.post_attention_layernorm.weight[channels[:1]] *= 6
    return model


def options_namespace(config):
    return argparse.Namespace(
        method=config["method"],
        sparsity=config.get("sparsity"),
        nm=tuple(config["nm"]) if "nm" in config else None,
        allocation=config.get("allocation", "uniform"),
        owl_m=config.get("owlM", 5.0),
        owl_lambda=config.get("owlLambda", 0.08),
        magnitude_group=config.get("magnitudeGroup", "row"),
        batch=4,
        save_masks=True,
        compare_masks=None,
    )


def packed(masks):
    bits = torch.cat([m.flatten() for m in masks.values()]).numpy().astype(np.uint8)
    return base64.b64encode(np.packbits(bits).tobytes()).decode()


def generate(seed):
    """Every configuration's results on the model and data of this seed; None when a cut is too close to call."""
    model = make_model(seed)
    gen = torch.Generator().manual_seed(seed + 1000)
    calibration = torch.randint(1, 96, (8, 32), generator=gen)
    probe = torch.randint(1, 96, (2, 6), generator=gen)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    results = []
    for config in CONFIGS:
        model.load_state_dict(state)
        gaps.clear()
        result, masks = pp.prune(model, calibration, options_namespace(config))
        # Magnitude's cuts compare bit-identical weights on both sides, so only its ties matter (same rule).
        if (config["method"] != "magnitude" or config.get("allocation") == "owl") and min(gaps, default=1.0) < MIN_GAP:
            print(f"seed {seed}: {config} has a cut with relative gap {min(gaps, default=1.0):.2e} < {MIN_GAP}")
            return None
        with torch.no_grad():
            logits = model(probe).logits
        results.append(
            {
                "options": config,
                "blocks": [{"outlierRatio": b["outlierRatio"], "sparsity": b["sparsity"]} for b in result["blocks"]],
                "modules": [m["name"] for m in result["modules"]],
                "achievedSparsity": result["achievedSparsity"],
                "masks": packed(masks),
                "logits": [float(f"{v:.7g}") for v in logits.flatten().tolist()],
            }
        )
    model.load_state_dict(state)
    return model, calibration, probe, results


def main():
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    pp.lowest_mask = lowest_mask_gap
    pp.outlier_ratio = outlier_ratio_gap
    pp.threshold_mask = threshold_mask_gap
    seed = 0
    while (generated := generate(seed)) is None:
        seed += 1
    model, calibration, probe, results = generated
    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUT)
    golden = {
        "made_by": ".venv/bin/python tools/make_prune_golden.py",
        "seed": seed,
        "calibration": calibration.tolist(),
        "probe": probe.tolist(),
        "logitsShape": [*probe.shape, 96],
        "configs": results,
    }
    (OUT / "golden.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    for r in results:
        print(r["options"], "block sparsities", [round(b["sparsity"], 4) for b in r["blocks"]])
    total = sum(f.stat().st_size for f in OUT.iterdir())
    print(f"wrote {OUT} with seed {seed} ({total} bytes)")


if __name__ == "__main__":
    main()
