#!/usr/bin/env python3
"""Write test/golden/train/: a tiny random LLaMA, fixed token batches, and PyTorch's training of it.

lithe's training must follow these (test/train/torch-parity.test.ts, bench/check-train.ts):
  config.json, model.safetensors  the initial weights (HF format, so lithe's loadDecoder reads them);
  batches.safetensors            "tokens" i32 [STEPS, BATCH, SEQLEN + 1]: step s trains on inputs
                                 tokens[s, :, :-1] and next-token targets tokens[s, :, 1:];
  grads.safetensors              every parameter's gradient of the mean cross entropy (all positions)
                                 of the initial model on batch 0;
  loss-curve.json                hyperparameters, decay groups, and every step's loss, LR and gradient norm.
Training: torch.optim.AdamW (single-tensor path) over two groups split as lithe's decayGroups does (no
decay on 1-D parameters and embed_tokens), clip_grad_norm_ to MAX_NORM, and transformers' warmup +
cosine schedule with a floor (get_cosine_with_min_lr_schedule_with_warmup). All in f32 on the CPU.
The tokens follow a random sparse Markov chain, so the loss falls far below ln(vocab) in 200 steps.
Run from the repository root (about a minute): .venv/bin/python tools/make_train_golden.py
"""
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "train"
STEPS = 200
BATCH = 4
SEQLEN = 32
HYPER = {
    "lr": 3e-3,
    "betas": [0.9, 0.95],
    "eps": 1e-8,
    "weightDecay": 0.1,
    "maxNorm": 1.0,
    "warmupSteps": 10,
    "totalSteps": STEPS,
    "minLrRatio": 0.1,
}
CONFIG = LlamaConfig(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rms_norm_eps=1e-5,
    initializer_range=0.05,
    tie_word_embeddings=False,
    bos_token_id=0,
    eos_token_id=0,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
)


def f32_list(values):
    """f32 values as the shortest decimals that round back to them."""
    return [float(str(v)) for v in np.asarray(values, dtype=np.float32).ravel()]


def no_decay(name, p):
    """lithe's defaultNoDecay: 1-D parameters (norms, biases) and the input embeddings."""
    return p.dim() < 2 or name.endswith("norm.weight") or name.endswith("bias") or name.endswith("embed_tokens.weight")


def make_tokens(rng):
    """STEPS × BATCH sequences of SEQLEN + 1 tokens from a Markov chain with 4 successors per token."""
    vocab = CONFIG.vocab_size
    successors = np.stack([rng.choice(vocab, 4, replace=False) for _ in range(vocab)])
    probs = np.array([0.6, 0.25, 0.1, 0.05])
    tokens = np.empty((STEPS, BATCH, SEQLEN + 1), dtype=np.int32)
    for s in range(STEPS):
        for b in range(BATCH):
            t = rng.integers(vocab)
            for i in range(SEQLEN + 1):
                tokens[s, b, i] = t
                t = successors[t, rng.choice(4, p=probs)]
    return tokens


def make_model():
    torch.manual_seed(0)
    CONFIG._attn_implementation = "eager"
    model = LlamaForCausalLM(CONFIG).to(torch.float32).train()
    # Norm weights away from 1, so that their gradients and scaling are tested too.
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
    return model


def loss_of(model, batch):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(input_ids=inputs).logits
    return F.cross_entropy(logits.reshape(-1, CONFIG.vocab_size), targets.reshape(-1))


def gradients(model, batch):
    model.zero_grad(set_to_none=True)
    loss = loss_of(model, batch)
    loss.backward()
    grads = {name: p.grad.detach().clone().contiguous() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return loss.item(), grads


def train(model, tokens):
    named = list(model.named_parameters())
    groups = [
        [(n, p) for n, p in named if not no_decay(n, p)],
        [(n, p) for n, p in named if no_decay(n, p)],
    ]
    opt = torch.optim.AdamW(
        [
            {"params": [p for _, p in groups[0]], "weight_decay": HYPER["weightDecay"]},
            {"params": [p for _, p in groups[1]], "weight_decay": 0.0},
        ],
        lr=HYPER["lr"],
        betas=tuple(HYPER["betas"]),
        eps=HYPER["eps"],
        foreach=False,
    )
    scheduler = get_cosine_with_min_lr_schedule_with_warmup(
        opt, HYPER["warmupSteps"], HYPER["totalSteps"], min_lr_rate=HYPER["minLrRatio"]
    )
    # Clipped in group order, the order lithe's loop sums the per-parameter norms in.
    params = [p for g in groups for _, p in g]
    losses, lrs, norms = [], [], []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = loss_of(model, torch.from_numpy(tokens[step]).long())
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(params, HYPER["maxNorm"]).item())
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
        losses.append(loss.item())
    return {"decayed": [n for n, _ in groups[0]], "notDecayed": [n for n, _ in groups[1]]}, losses, lrs, norms


def main():
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    tokens = make_tokens(np.random.default_rng(20260301))
    model = make_model()
    model.save_pretrained(OUT, safe_serialization=True)
    (OUT / "generation_config.json").unlink(missing_ok=True)
    save_file({"tokens": torch.from_numpy(tokens)}, OUT / "batches.safetensors")

    grad_loss, grads = gradients(model, torch.from_numpy(tokens[0]).long())
    save_file(grads, OUT / "grads.safetensors")

    groups, losses, lrs, norms = train(model, tokens)
    golden = {
        "steps": STEPS,
        "batchSize": BATCH,
        "seqlen": SEQLEN,
        "hyper": HYPER,
        "groups": groups,
        "gradLoss": f32_list([grad_loss])[0],
        "loss": f32_list(losses),
        "lr": lrs,
        "gradNorm": f32_list(norms),
    }
    (OUT / "loss-curve.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; gradient-golden loss {grad_loss:.6f}")
    for f in sorted(OUT.iterdir()):
        print(f"{f.name}: {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
