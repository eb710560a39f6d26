"""Perplexity of a Hugging Face causal LM on a text file, with transformers in fp32, under lithe's protocol.

Protocol (Wanda/OWL's): encode the whole text once without special tokens, cut it into
non-overlapping windows of seqlen (dropping the rest), and report exp(mean over windows of the
window's mean next-token loss). Prints one JSON object.

    .venv/bin/python tools/hf_perplexity.py --model ../shared/models/llama-ref --text sotu-test.txt --seqlen 256

encode_text() and perplexity() are the protocol for the other tools (tools/lowrank_reference.py imports them).
"""
import argparse
import json
import math
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def encode_text(tok, path):
    """The whole text file as one id sequence, without special tokens."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return tok(text, add_special_tokens=False, return_tensors="pt").input_ids[0]


@torch.inference_mode()
def perplexity(model, ids, seqlen, batch=4, max_windows=0):
    """exp(mean of the windows' mean next-token losses) over non-overlapping seqlen windows; returns (ppl, windows)."""
    windows = ids.numel() // seqlen
    if max_windows:
        windows = min(windows, max_windows)
    data = ids[: windows * seqlen].view(windows, seqlen)
    losses = []
    for i in range(0, windows, batch):
        b = data[i : i + batch]
        logits = model(b).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), b[:, 1:].reshape(-1), reduction="none"
        ).view(b.shape[0], -1)
        losses.extend(loss.mean(dim=1).tolist())
    return math.exp(sum(losses) / len(losses)), windows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-windows", type=int, default=0, help="evaluate only the first N windows (0 = all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    ids = encode_text(tok, args.text)
    start = time.perf_counter()
    ppl, windows = perplexity(model, ids, args.seqlen, args.batch, args.max_windows)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "perplexity": ppl,
        "windows": windows,
        "tokens": windows * args.seqlen,
        "seconds": seconds,
        "tokens_per_second": windows * args.seqlen / seconds,
    }))


if __name__ == "__main__":
    main()
