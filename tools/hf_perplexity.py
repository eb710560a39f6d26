"""Perplexity of a Hugging Face causal LM on a text file, with transformers in fp32, under lithe's protocol.

Protocol (Wanda/OWL's): encode the whole text once without special tokens, cut it into
non-overlapping windows of seqlen (dropping the rest), and report exp(mean over windows of the
window's mean next-token loss). Prints one JSON object.

    .venv/bin/python tools/hf_perplexity.py --model ../shared/models/llama-ref --text sotu-test.txt --seqlen 256
"""
import argparse
import json
import math
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


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
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids[0]
    windows = ids.numel() // args.seqlen
    if args.max_windows:
        windows = min(windows, args.max_windows)
    data = ids[: windows * args.seqlen].view(windows, args.seqlen)
    losses = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, windows, args.batch):
            batch = data[i : i + args.batch]
            logits = model(batch).logits.float()
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="none"
            ).view(batch.shape[0], -1)
            losses.extend(loss.mean(dim=1).tolist())
    seconds = time.perf_counter() - start
    print(json.dumps({
        "perplexity": math.exp(sum(losses) / len(losses)),
        "windows": windows,
        "tokens": windows * args.seqlen,
        "seconds": seconds,
        "tokens_per_second": windows * args.seqlen / seconds,
    }))


if __name__ == "__main__":
    main()
