#!/usr/bin/env python3
"""An independent PyTorch pruning pipeline for Hugging Face LLaMA checkpoints: magnitude, Wanda, SparseGPT;
unstructured or N:M; uniform or OWL per-block sparsity. Prints one JSON object (--json) or a summary.

Written from the papers (Wanda arXiv 2306.11695, SparseGPT arXiv 2301.00774, OWL arXiv 2310.05175) and
shared/design/methods-pruning.md, to check `lithe prune` (bench/check-prune.ts) and time it (bench/prune.ts):
  - calibration: the first nsamples lines of a JSONL of {"text"}, each encoded without special tokens and cut
    to its first seqlen tokens; their embeddings are block 0's inputs;
  - per block: one dense forward records each Linear's input statistics (q/k/v share one input, gate/up
    another): sum over tokens of x_j^2 in f64, and for SparseGPT H = (2/n) sum x x^T (an f32 GEMM per
    batch summed in f64); every Linear is pruned from those dense statistics; the pruned block's outputs are
    the next block's inputs;
  - Wanda: score |W_ij| * ||X_j|| (computed in f64, rounded to f32); magnitude: |W_ij|; per output row (or
    --magnitude-group layer, the papers' magnitude baseline; row is lithe prune's) the floor(n * s) lowest go;
    N:M: the n lowest of each m consecutive columns; ties: the lower index goes first (stable sort);
  - SparseGPT: dead columns, 1% dampening, Hinv = upper Cholesky factor of H^-1 (f64, then f32), 128-column
    blocks whose mask prunes w^2 / Hinv_jj^2 <= its floor(numel * s)-th smallest (floor(numel * s) + 1
    entries, as the public reference), OBS updates column by column, lazy updates of the later columns;
  - OWL: a first pass over the dense model gives each block's outlier ratio (percent of its Wanda scores
    above M x their mean); density = (D - min D) / (max D - min D) * 2 lambda, shifted to average 1 - S;
    sparsity = 1 - density, <= 0 clamped to 0.01 (equal ratios: every block at S).
Perplexity follows tools/hf_perplexity.py (lithe eval's protocol). Compute is f32; --out saves the pruned model
in the input checkpoint's dtype.
--compare-masks DIR reads another tool's pruned checkpoint of the same model and counts, per module, the
weights zero on one side only; for magnitude and Wanda each such weight also gets its score margin, the
relative change of its score (here) that would move it across its group's cut (0 for an exact tie).

    .venv/bin/python tools/prune_pipeline.py --model ../shared/models/llama-ref --method wanda --sparsity 0.5 \
        --calib calib.jsonl --eval sotu-test.txt --json
"""
import argparse
import json
import math
import os
import sys
import time

# OpenMP workers sleep while they wait instead of spinning: on a shared CPU, spinning workers starve the one still
# working (a block's forward was 4x slower, SparseGPT's column loop 30x, next to another busy process).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402 (after the OpenMP setting, which is read when torch loads)
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from hf_perplexity import perplexity  # noqa: E402 (tools/ is on sys.path when a tool runs as a script)
from transformers.masking_utils import create_causal_mask  # noqa: E402

# A block's Linears grouped by their common input, in forward order (a group shares one set of statistics).
GROUPS = (
    ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    ("self_attn.o_proj",),
    ("mlp.gate_proj", "mlp.up_proj"),
    ("mlp.down_proj",),
)
MIN_BLOCK_SPARSITY = 0.01


class InputStats:
    """Per-column sum of squares (f64) and optionally the Hessian sum of one Linear input."""

    def __init__(self, cols, hessian):
        self.norms_sq = torch.zeros(cols, dtype=torch.float64)
        self.gram = torch.zeros(cols, cols, dtype=torch.float64) if hessian else None
        self.tokens = 0

    def add(self, x):
        x = x.detach().reshape(-1, x.shape[-1]).float()
        # In row chunks: one f64 copy of the whole batch is several times slower (fresh pages for a large temporary).
        for chunk in x.split(256):
            self.norms_sq += chunk.double().square().sum(0)
        if self.gram is not None:
            self.gram += (x.T @ x).double()
        self.tokens += x.shape[0]

    def hessian(self):
        return self.gram * (2 / self.tokens)


def read_calibration(tok, path, nsamples, seqlen):
    with open(path, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()][:nsamples]
    samples = []
    for i, text in enumerate(texts):
        ids = tok(text, add_special_tokens=False).input_ids
        if len(ids) < seqlen:
            sys.exit(f"prune_pipeline: calibration line {i + 1} has {len(ids)} tokens, fewer than seqlen = {seqlen}")
        samples.append(ids[:seqlen])
    return torch.tensor(samples, dtype=torch.long)


class Blocks:
    """Runs the decoder's blocks one at a time on batches of calibration activations."""

    def __init__(self, model, ids, batch):
        self.model = model
        self.batches = list(ids.split(batch))
        seqlen = ids.shape[1]
        self.position_ids = torch.arange(seqlen).unsqueeze(0)

    def embedded(self):
        return [self.model.model.embed_tokens(b).float() for b in self.batches]

    def run(self, layer, x):
        rope = self.model.model.rotary_emb(x, position_ids=self.position_ids)
        mask = create_causal_mask(
            config=self.model.config,
            inputs_embeds=x,
            attention_mask=None,
            past_key_values=None,
            position_ids=self.position_ids,
        )
        return layer(x, attention_mask=mask, position_ids=self.position_ids, position_embeddings=rope)

    def record(self, layer, inputs, hessian, keep_outputs):
        """A dense forward of every batch recording each group's input statistics; optionally its outputs."""
        stats = {}
        hooks = []
        for group in GROUPS:
            linear = layer.get_submodule(group[0])
            stats[group] = InputStats(linear.in_features, hessian)
            hooks.append(linear.register_forward_pre_hook(lambda _m, args, s=stats[group]: s.add(args[0])))
        try:
            outputs = [self.run(layer, x) for x in inputs]
        finally:
            for h in hooks:
                h.remove()
        return stats, (outputs if keep_outputs else None)


def wanda_scores(w, norms_sq):
    return (w.double().abs() * norms_sq.sqrt()[None, :]).float()


def outlier_ratio(scores, m):
    flat = torch.cat([s.flatten() for s in scores])
    threshold = flat.double().mean() * m
    return float((flat.double() > threshold).sum()) / flat.numel() * 100


def owl_sparsities(ratios, target, lam):
    lo, hi = min(ratios), max(ratios)
    if hi == lo:
        return [target] * len(ratios)
    density = [(d - lo) * (1 / (hi - lo) * lam * 2) for d in ratios]
    mean = sum(density) / len(density)
    sparsity = [1 - (x - mean + (1 - target)) for x in density]
    return [s if s > 0 else MIN_BLOCK_SPARSITY for s in sparsity]


def score_groups(scores, sparsity, nm, group):
    """Scores as [groups, length] runs and how many of each run are pruned."""
    rows, cols = scores.shape
    if nm:
        return scores.reshape(-1, nm[1]), nm[0]
    if group == "layer":
        return scores.reshape(1, -1), int(rows * cols * sparsity)
    return scores, int(cols * sparsity)


def lowest_mask(runs, count):
    """Keep mask of runs [groups, length]: the count lowest of each run go, lower index first on ties."""
    keep = torch.ones_like(runs, dtype=torch.bool)
    if count > 0:
        keep.scatter_(1, torch.sort(runs, dim=1, stable=True).indices[:, :count], False)
    return keep


def score_margins(runs, count, ours, theirs):
    """For each weight kept on one side only, the relative score change (here) that would move it across its run's cut."""
    differ = (ours != theirs).reshape(runs.shape)
    if not differ.any():
        return torch.zeros(0, dtype=torch.float64)
    ordered = torch.sort(runs.double(), dim=1).values
    lo = ordered[:, count - 1] if count > 0 else torch.full((runs.shape[0],), -math.inf, dtype=torch.float64)
    hi = ordered[:, count] if count < runs.shape[1] else torch.full((runs.shape[0],), math.inf, dtype=torch.float64)
    g, j = differ.nonzero(as_tuple=True)
    s = runs.double()[g, j]
    kept = ours.reshape(runs.shape)[g, j]
    # Kept here: how far above the largest pruned score; pruned here: how far below the smallest kept one.
    gap = torch.where(kept, s - lo[g], hi[g] - s)
    scale = torch.where(kept, s, hi[g]).abs()
    return torch.where(scale > 0, gap / scale, torch.zeros_like(gap))


def threshold_mask(loss, sparsity):
    """SparseGPT's block mask (True = pruned): loss <= its floor(numel * s)-th smallest, so floor(numel * s) + 1 go."""
    return loss <= torch.sort(loss.flatten()).values[int(loss.numel() * sparsity)]


def sparsegpt(w, h, sparsity, nm, blocksize=128, percdamp=0.01):
    """OBS pruning of w [rows, cols] (f32) with Hessian h (f64) in 128-column blocks; returns the new weights."""
    w = w.clone().float()
    cols = w.shape[1]
    h = h.clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += percdamp * torch.mean(torch.diag(h)) * torch.eye(cols, dtype=torch.float64)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True).float()
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        w1 = w[:, i1:i2].clone()
        hinv1 = hinv[i1:i2, i1:i2]
        d = torch.diag(hinv1)
        err1 = torch.zeros_like(w1)
        # N:M chooses its mask in the column loop; sparsity 0 prunes nothing (the threshold rule would prune the minimum).
        if nm or sparsity == 0:
            pruned = torch.zeros_like(w1, dtype=torch.bool)
        else:
            # Losses in f64 so near-equal ones do not tie after rounding.
            pruned = threshold_mask(w1.double().square() / d.double().square(), sparsity)
        for i in range(i2 - i1):
            if nm and i % nm[1] == 0:
                loss = w1[:, i : i + nm[1]].double().square() / d[i : i + nm[1]].double().square()
                pruned[:, i : i + nm[1]] = ~lowest_mask(loss, nm[0])
            # err = (w - q) / Hinv_ii with q = w where kept, 0 where pruned; column i itself becomes q.
            err = torch.where(pruned[:, i], w1[:, i] / d[i], 0.0)
            w1[:, i + 1 :].addr_(err, hinv1[i, i + 1 :], alpha=-1)
            w1[:, i].masked_fill_(pruned[:, i], 0.0)
            err1[:, i] = err
        w[:, i1:i2] = w1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return w


def parse_nm(value):
    n, m = (int(v) for v in value.split(":"))
    if not 0 < n < m:
        raise argparse.ArgumentTypeError(f"--nm must be N:M with 0 < N < M, got {value}")
    return n, m


@torch.inference_mode()
def prune(model, ids, args):
    layers = model.model.layers
    method, nm = args.method, args.nm
    target = nm[0] / nm[1] if nm else args.sparsity
    needs_calibration = method != "magnitude" or args.allocation == "owl"
    blocks = Blocks(model, ids, args.batch) if needs_calibration else None
    seconds = {"calibration": 0.0, "pruning": 0.0}

    def timed(phase, fn):
        start = time.perf_counter()
        try:
            return fn()
        finally:
            seconds[phase] += time.perf_counter() - start

    ratios = None
    if args.allocation == "owl":
        inputs = timed("calibration", blocks.embedded)
        ratios = []
        for layer in layers:
            stats, inputs = timed("calibration", lambda: blocks.record(layer, inputs, False, True))
            scores = [
                wanda_scores(layer.get_submodule(name).weight, stats[group].norms_sq)
                for group in GROUPS
                for name in group
            ]
            ratios.append(timed("pruning", lambda: outlier_ratio(scores, args.owl_m)))
        sparsities = owl_sparsities(ratios, target, args.owl_lambda)
    else:
        sparsities = [target] * len(layers)

    needs_stats = method != "magnitude"
    inputs = timed("calibration", blocks.embedded) if needs_stats else None
    modules, masks, margins, mismatches = [], {}, [], {}
    theirs = load_file(f"{args.compare_masks}/model.safetensors") if args.compare_masks else None
    zeros = total = 0
    for index, layer in enumerate(layers):
        if needs_stats:
            stats, _ = timed("calibration", lambda: blocks.record(layer, inputs, method == "sparsegpt", False))
        sparsity = sparsities[index]
        start = time.perf_counter()
        for group in GROUPS:
            for name in group:
                linear = layer.get_submodule(name)
                w = linear.weight.data
                full = f"model.layers.{index}.{name}"
                if method == "sparsegpt":
                    w.copy_(sparsegpt(w, stats[group].hessian(), sparsity, nm))
                    runs = count = None
                else:
                    scores = wanda_scores(w, stats[group].norms_sq) if method == "wanda" else w.abs()
                    runs, count = score_groups(scores, sparsity, nm, args.magnitude_group)
                    w.mul_(lowest_mask(runs, count).reshape(w.shape))
                keep = w != 0
                module_zeros = int((~keep).sum())
                zeros += module_zeros
                total += w.numel()
                modules.append({"name": full, "shape": list(w.shape), "sparsity": module_zeros / w.numel()})
                if args.save_masks:
                    masks[full] = keep.to(torch.uint8).contiguous()
                if theirs is not None:
                    other = theirs[f"{full}.weight"] != 0
                    differ = int((keep != other).sum())
                    if differ:
                        mismatches[full] = differ
                        if runs is not None:
                            margins.append(score_margins(runs, count, keep.flatten(), other.flatten()))
        seconds["pruning"] += time.perf_counter() - start
        if needs_stats and index + 1 < len(layers):
            inputs = timed("calibration", lambda: [blocks.run(layer, x) for x in inputs])
        print(
            f"block {index + 1}/{len(layers)} pruned (so far: calibration {seconds['calibration']:.1f} s,"
            f" pruning {seconds['pruning']:.1f} s)",
            file=sys.stderr,
        )

    result = {
        "method": method,
        "allocation": args.allocation,
        "pattern": "N:M" if nm else "unstructured",
        "nm": list(nm) if nm else None,
        "targetSparsity": target,
        "achievedSparsity": zeros / total,
        "blocks": [
            {"index": i, "outlierRatio": ratios[i] if ratios else None, "sparsity": s} for i, s in enumerate(sparsities)
        ],
        "modules": modules,
        "seconds": seconds if needs_calibration else {"pruning": seconds["pruning"]},
    }
    if theirs is not None:
        margin = torch.cat(margins) if margins else torch.zeros(0, dtype=torch.float64)
        result["comparison"] = {
            "checkpoint": args.compare_masks,
            "mismatches": sum(mismatches.values()),
            "weights": total,
            "modules": mismatches,
            # Only where the mask is a cut of fixed scores (magnitude, Wanda); null for SparseGPT.
            "maxMargin": None if method == "sparsegpt" else (float(margin.max()) if margin.numel() else 0.0),
        }
    return result, masks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--method", required=True, choices=["magnitude", "wanda", "sparsegpt"])
    ap.add_argument("--sparsity", type=float)
    ap.add_argument("--nm", type=parse_nm)
    ap.add_argument("--allocation", default="uniform", choices=["uniform", "owl"])
    ap.add_argument("--owl-m", type=float, default=5.0)
    ap.add_argument("--owl-lambda", type=float, default=0.08)
    ap.add_argument("--magnitude-group", default="row", choices=["row", "layer"])
    ap.add_argument("--calib", help="JSONL of {text}: one sample per line")
    ap.add_argument("--nsamples", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4, help="calibration samples per block forward")
    ap.add_argument("--eval", help="a text file: perplexity before and after pruning")
    ap.add_argument("--no-eval-before", action="store_true", help="with --eval, skip the dense model's perplexity")
    ap.add_argument("--save-masks", help="write the keep masks (uint8, 1 = kept) as safetensors")
    ap.add_argument("--compare-masks", help="a pruned checkpoint of the same model whose zeros to compare")
    ap.add_argument("--out", help="write the pruned model (in the input checkpoint's dtype) and tokenizer here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.nm:
        if args.sparsity is not None and args.sparsity != args.nm[0] / args.nm[1]:
            ap.error(f"--sparsity {args.sparsity} contradicts --nm {args.nm[0]}:{args.nm[1]}")
        if args.allocation != "uniform":
            ap.error("--nm needs --allocation uniform")
    elif args.sparsity is None or not 0 <= args.sparsity < 1:
        ap.error("--sparsity in [0, 1) or --nm N:M is required")
    if (args.method != "magnitude" or args.allocation == "owl") and not args.calib:
        ap.error(f"{args.method} with {args.allocation} allocation needs --calib")

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    ids = read_calibration(tok, args.calib, args.nsamples, args.seqlen) if args.calib else None
    load_seconds = time.perf_counter() - start
    eval_ids = None
    if args.eval:
        with open(args.eval, encoding="utf-8") as f:
            eval_ids = tok(f.read(), add_special_tokens=False, return_tensors="pt").input_ids[0]
    eval_seconds = 0.0

    def measure():
        nonlocal eval_seconds
        t = time.perf_counter()
        ppl, _ = perplexity(model, eval_ids, args.seqlen)
        eval_seconds += time.perf_counter() - t
        return ppl

    before = measure() if eval_ids is not None and not args.no_eval_before else None
    result, masks = prune(model, ids, args)
    after = measure() if eval_ids is not None else None
    result["perplexity"] = {"before": before, "after": after} if eval_ids is not None else None
    result["seconds"]["load"] = load_seconds
    result["seconds"]["eval"] = eval_seconds
    if args.save_masks:
        save_file(masks, args.save_masks)
    if args.out:
        start = time.perf_counter()
        with open(f"{args.model}/config.json", encoding="utf-8") as f:
            config = json.load(f)
        model.to(getattr(torch, config.get("dtype") or config.get("torch_dtype") or "float32")).save_pretrained(args.out)
        tok.save_pretrained(args.out)
        result["seconds"]["save"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(result))
    else:
        s = result["seconds"]
        ppl = f", perplexity {before} -> {after}" if eval_ids is not None else ""
        print(
            f"pruned {len(result['modules'])} modules with {args.method}: sparsity {result['achievedSparsity']:.4f}"
            f" (target {result['targetSparsity']:.4f}){ppl}; calibration {s.get('calibration', 0):.1f} s,"
            f" pruning {s['pruning']:.1f} s, eval {s['eval']:.1f} s"
        )


if __name__ == "__main__":
    main()
