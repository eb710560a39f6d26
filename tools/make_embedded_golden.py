#!/usr/bin/env python3
"""Write test/golden/embedded.json: transformers' view of lithe's embedded model (models/lithe-tiny).

Loads the committed checkpoint with transformers (so this also proves it loads there), encodes a fixed
prompt with the committed tokenizer, and stores the ids, the last position's top-10 logits, the logits'
mean |x| over all positions, and the mean next-token loss. test/models/embedded.test.ts checks lithe
against these. Run from the repository root: .venv/bin/python tools/make_embedded_golden.py
"""
import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "lithe-tiny"
OUT = ROOT / "test" / "golden" / "embedded.json"
PROMPT = (
    "Mr. Speaker, Mr. President, Members of the Congress, my fellow Americans: the state of our Union is "
    "strong, and tonight I ask you to join me in building an economy that works for every family."
)


def main():
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32).eval()
    ids = tok(PROMPT, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0]
    loss = torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:])
    top = torch.topk(logits[-1], 10)
    OUT.write_text(json.dumps({
        "prompt": PROMPT,
        "ids": ids[0].tolist(),
        "last_top_ids": top.indices.tolist(),
        "last_top_logits": [float(v) for v in top.values],
        "mean_abs_logit": float(logits.abs().mean()),
        "loss": float(loss),
    }, indent=1) + "\n")
    print(f"wrote {OUT}: {ids.shape[1]} tokens, loss {float(loss):.4f}")


if __name__ == "__main__":
    main()
