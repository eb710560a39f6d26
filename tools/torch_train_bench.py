#!/usr/bin/env python3
"""Training throughput of transformers' LlamaForCausalLM on PyTorch CPU, for bench/train.ts.

Same recipe as the lithe side: random init, uniform random tokens, AdamW (decay on matrices only),
gradient clipping to 1.0, cross entropy over every position; the first --warmup steps are not timed.
Prints one JSON line: {tokens_per_second, steps, seconds, peak_rss_mb, final_loss} and the bytes held after the last
step, counted from the live tensors: weights, gradients and optimiser state, in all and on the attention and MLP
Linears (the parameters GaLore manages: *_bytes and managed_*_bytes).
"""
import argparse
import json
import resource
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def add_model_args(p):
    """The model-shape flags of the torch benches (llama-ref's configuration by default)."""
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--intermediate", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=8192)


def main():
    p = argparse.ArgumentParser()
    add_model_args(p)
    p.add_argument("--seqlen", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
        head_dim=a.hidden // a.heads, max_position_embeddings=max(1024, a.seqlen), rms_norm_eps=1e-5,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).float().train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95),
    )
    gen = torch.Generator().manual_seed(0)
    timed_tokens = 0
    start = None
    loss = None
    for step in range(a.warmup + a.steps):
        if step == a.warmup:
            start = time.perf_counter()
        tokens = torch.randint(0, a.vocab, (a.batch, a.seqlen + 1), generator=gen)
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, a.vocab), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= a.warmup:
            timed_tokens += inputs.numel()
    seconds = time.perf_counter() - start
    nbytes = lambda t: t.numel() * t.element_size()
    managed = {id(p) for n, p in model.named_parameters() if p.ndim == 2 and (".self_attn." in n or ".mlp." in n)}

    def held(select):
        params = [p for p in model.parameters() if select(p)]
        state = [t for p in params for t in opt.state[p].values() if torch.is_tensor(t) and t.ndim > 0]
        return {"weight_bytes": sum(nbytes(p) for p in params),
                "grad_bytes": sum(nbytes(p.grad) for p in params if p.grad is not None),
                "state_bytes": sum(nbytes(t) for t in state)}

    memory = held(lambda p: True)
    memory.update({f"managed_{k}": v for k, v in held(lambda p: id(p) in managed).items()})
    print(json.dumps({
        **memory,
        "tokens_per_second": timed_tokens / seconds,
        "steps": a.steps,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "final_loss": float(loss.detach()),
    }))


if __name__ == "__main__":
    main()
