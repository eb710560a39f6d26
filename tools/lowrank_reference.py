#!/usr/bin/env python3
"""An independent PyTorch implementation of low-rank compression of a Hugging Face decoder: the uniform SVD
baseline and WeLore's (arXiv 2407.11239) non-uniform ranks from one global threshold on normalised spectra.
Written from the paper's definitions, to check `lithe lowrank` (bench/check-lowrank.ts) and time it
(bench/lowrank.ts). Prints one JSON object shaped like lithe's report.json, plus seconds.load and seconds.save.

  - decoder Linears: every block's self_attn.{q,k,v,o}_proj and mlp.{gate,up,down}_proj (W: out x in, n = min);
    embeddings and lm_head are never reduced;
  - spectra: torch.linalg.svdvals of each f32 weight (f32, descending);
  - svd: k = round((1 - ERR) * n), halves rounded up (as JavaScript's Math.round);
  - welore: s_hat = (s - min s) / (max s - min s) (in f64; all equal: nothing dropped); a component goes when
    s_hat < tau; k = the number kept. tau is bisected on [0, 1] from 0.5, stopping at the first tau whose achieved
    ERR is within 0.001 of the target (when none is, after 100 halvings, the side of the crossing closer to the
    target, ties the lower ERR), and reported as the midpoint of the gap between the two consecutive pooled s_hat
    values it falls between (the same ranks, robust to rounding);
  - achieved ERR = sum of dropped components / sum of n over all decoder Linears; a matrix is a Low-rank Component
    (LRC) when (n - k) / n > --min-ratio and k < n, and only LRCs count as dropped; the others stay unchanged;
  - an LRC is stored as U sqrt(S) (out x k, `<name>.U.weight`, carrying any bias as `<name>.U.bias`) and
    sqrt(S) V^T (k x in, `<name>.V.weight`) when k (m + n) < m n, else as its rank-k reconstruction, dense; the
    factors come from torch.linalg.svd (f32); the evaluated model carries each LRC's product U sqrt(S) sqrt(S) V^T;
  - --out writes model.safetensors in the checkpoint's dtype, config.json with `low_rank` {name: k} of the
    factorised modules, and the tokenizer and generation config files;
  - perplexity before and after on --text with tools/hf_perplexity.py's protocol.

    .venv/bin/python tools/lowrank_reference.py --model ../shared/models/llama-ref --method welore --err 0.5 \\
        --text sotu-test.txt
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

# OpenMP workers sleep while they wait instead of spinning (a shared CPU; see tools/prune_pipeline.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402 (after the OpenMP setting, which is read when torch loads)
from safetensors.torch import save_file  # noqa: E402

from hf_perplexity import encode_text, perplexity  # noqa: E402

DECODER_LINEARS = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)
# Copied beside the compressed weights when the input has them.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")
ERR_TOLERANCE = 1e-3
BISECTIONS = 100


def decoder_linear_names(num_layers):
    return [f"model.layers.{i}.{name}" for i in range(num_layers) for name in DECODER_LINEARS]


class Spectrum:
    """One matrix's singular values (descending) and their min-max normalisation, ascending, for counting."""

    def __init__(self, name, shape, values):
        self.name = name
        self.shape = shape  # [out, in]
        self.values = values  # f32 tensor, descending
        s = values.double().numpy()
        lo, hi = s.min(), s.max()
        self.normalised = None if hi == lo else np.sort((s - lo) / (hi - lo))

    @property
    def n(self):
        return min(self.shape)

    def welore_rank(self, tau):
        if self.normalised is None:
            return self.n
        return self.n - int(np.searchsorted(self.normalised, tau, side="left"))


def svd_rank(n, err):
    return int(math.floor((1 - err) * n + 0.5))


def is_lrc(n, k, min_ratio):
    return k < n and (n - k) / n > min_ratio


def achieved_err(spectra, ranks, min_ratio):
    dropped = sum(sp.n - k for sp, k in zip(spectra, ranks) if is_lrc(sp.n, k, min_ratio))
    return dropped / sum(sp.n for sp in spectra)


def welore_ranks(spectra, tau):
    return [sp.welore_rank(tau) for sp in spectra]


def gap_midpoint(spectra, tau):
    """The gap (a, b) of consecutive pooled s_hat values with a < tau <= b, and its midpoint."""
    pooled = np.unique(np.concatenate([sp.normalised for sp in spectra if sp.normalised is not None]))
    i = int(np.searchsorted(pooled, tau, side="left"))
    if i == 0:
        return (None, float(pooled[0])), 0.0
    # tau <= 1 = the largest s_hat, so pooled[i] exists.
    a, b = float(pooled[i - 1]), float(pooled[i])
    return (a, b), (a + b) / 2


def search_tau(spectra, target, min_ratio):
    """Bisect tau on [0, 1] for the target ERR; returns (tau at the gap's midpoint, gap, within tolerance)."""
    err_at = lambda tau: achieved_err(spectra, welore_ranks(spectra, tau), min_ratio)  # noqa: E731
    lo, hi = 0.0, 1.0
    found = None
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        err = err_at(mid)
        if abs(err - target) <= ERR_TOLERANCE:
            found = mid
            break
        if err < target:
            lo = mid
        else:
            hi = mid
    within = found is not None
    if not within:
        found = lo if abs(err_at(lo) - target) <= abs(err_at(hi) - target) else hi
    gap, tau = gap_midpoint(spectra, found)
    return tau, gap, within


def plan(spectra, method, err, min_ratio, tau=None):
    """Ranks and storage of every matrix: (tau, gap, within tolerance, modules, achieved ERR)."""
    gap, within = None, True
    if method == "svd":
        ranks = [svd_rank(sp.n, err) for sp in spectra]
        tau = None
    else:
        if tau is None:
            tau, gap, within = search_tau(spectra, err, min_ratio)
        ranks = welore_ranks(spectra, tau)
    modules = []
    for sp, k in zip(spectra, ranks):
        m, n_in = sp.shape
        if not is_lrc(sp.n, k, min_ratio):
            stored = "unchanged"
        else:
            stored = "factors" if k * (m + n_in) < m * n_in else "dense"
        modules.append({
            "name": sp.name,
            "shape": list(sp.shape),
            "rank": k,
            "droppedFraction": (sp.n - k) / sp.n,
            "stored": stored,
        })
    return tau, gap, within, modules, achieved_err(spectra, ranks, min_ratio)


def parameters_after(before, modules):
    saved = 0
    for mod in modules:
        if mod["stored"] == "factors":
            m, n_in = mod["shape"]
            saved += m * n_in - mod["rank"] * (m + n_in)
    return before - saved


def factorise(weight, k):
    """Top-k factors of an f32 weight [out, in]: U sqrt(S) [out, k] and sqrt(S) V^T [k, in]."""
    u, s, vh = torch.linalg.svd(weight, full_matrices=False)
    root = s[:k].sqrt()
    return (u[:, :k] * root).contiguous(), (root[:, None] * vh[:k]).contiguous()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--method", required=True, choices=["svd", "welore"])
    ap.add_argument("--err", type=float, required=True, help="target effective rank reduction, in (0, 1)")
    ap.add_argument("--min-ratio", type=float, default=0.0, help="LRC when the dropped fraction exceeds this")
    ap.add_argument("--tau", type=float, help="welore: use this threshold instead of searching")
    ap.add_argument("--text", help="a text file: perplexity before and after")
    ap.add_argument("--no-eval-before", action="store_true", help="with --text, skip the uncompressed perplexity")
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--max-windows", type=int, default=0, help="evaluate only the first N windows (0 = all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the compressed checkpoint (factors, config.json low_rank) here")
    ap.add_argument("--spectra", help="write every module's singular values to this JSON file")
    args = ap.parse_args()
    if not 0 < args.err < 1:
        ap.error("--err must be in (0, 1)")
    if not 0 <= args.min_ratio < 1:
        ap.error("--min-ratio must be in [0, 1)")
    if args.tau is not None and args.method != "welore":
        ap.error("--tau needs --method welore")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    seconds = {}
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    params = dict(model.named_parameters())
    names = decoder_linear_names(model.config.num_hidden_layers)
    linears = [model.get_submodule(name) for name in names]
    seconds["load"] = time.perf_counter() - start
    eval_ids = encode_text(AutoTokenizer.from_pretrained(args.model), args.text) if args.text else None

    def measure():
        t = time.perf_counter()
        ppl, _ = perplexity(model, eval_ids, args.seqlen, max_windows=args.max_windows)
        seconds["eval"] = seconds.get("eval", 0.0) + time.perf_counter() - t
        return ppl

    before_ppl = measure() if eval_ids is not None and not args.no_eval_before else None

    start = time.perf_counter()
    with torch.inference_mode():
        spectra = [
            Spectrum(name, list(lin.weight.shape), torch.linalg.svdvals(lin.weight)) for name, lin in zip(names, linears)
        ]
    tau, _, within, modules, err = plan(spectra, args.method, args.err, args.min_ratio, args.tau)
    seconds["spectra"] = time.perf_counter() - start
    print(f"spectra of {len(spectra)} matrices: {seconds['spectra']:.2f} s; tau {tau}, ERR {err:.6f}", file=sys.stderr)
    if not within:
        print(f"no tau reaches ERR {args.err} within {ERR_TOLERANCE}; the closest gives {err}", file=sys.stderr)

    start = time.perf_counter()
    factors = {}
    with torch.inference_mode():
        for mod, lin in zip(modules, linears):
            if mod["stored"] == "unchanged":
                continue
            u, v = factorise(lin.weight, mod["rank"])
            lin.weight.copy_(u @ v)
            if mod["stored"] == "factors":
                factors[mod["name"]] = (u, v)
    seconds["factorise"] = time.perf_counter() - start

    if args.out:
        start = time.perf_counter()
        with open(os.path.join(args.model, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        dtype = getattr(torch, config.get("dtype") or config.get("torch_dtype") or "float32")
        tensors = {}
        for name, p in params.items():
            module = name.rsplit(".", 1)[0]
            if module in factors:
                continue
            tensors[name] = p.detach().to(dtype).contiguous()
        for name, (u, v) in factors.items():
            tensors[f"{name}.U.weight"] = u.to(dtype)
            tensors[f"{name}.V.weight"] = v.to(dtype)
            if f"{name}.bias" in params:
                tensors[f"{name}.U.bias"] = params[f"{name}.bias"].detach().to(dtype).contiguous()
        os.makedirs(args.out, exist_ok=True)
        save_file(tensors, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
        config["low_rank"] = {mod["name"]: mod["rank"] for mod in modules if mod["stored"] == "factors"}
        with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
        for extra in TOKENIZER_FILES:
            if os.path.exists(os.path.join(args.model, extra)):
                shutil.copyfile(os.path.join(args.model, extra), os.path.join(args.out, extra))
        seconds["save"] = time.perf_counter() - start

    after_ppl = measure() if eval_ids is not None else None
    if args.spectra:
        with open(args.spectra, "w", encoding="utf-8") as f:
            json.dump({sp.name: sp.values.tolist() for sp in spectra}, f)
    before = sum(p.numel() for p in model.parameters())
    print(json.dumps({
        "method": args.method,
        "targetErr": args.err,
        "achievedErr": err,
        "tau": tau,
        "minRatio": args.min_ratio,
        "modules": modules,
        "parameters": {"before": before, "after": parameters_after(before, modules)},
        "perplexity": {"before": before_ppl, "after": after_ppl} if eval_ids is not None else None,
        "seconds": {"load": seconds["load"], "spectra": seconds["spectra"], "factorise": seconds["factorise"],
                    "save": seconds.get("save", 0.0), "eval": seconds.get("eval", 0.0)},
    }))


if __name__ == "__main__":
    main()
