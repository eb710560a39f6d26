"""Round-trip check: checkpoints that lithe loads and saves (f32 and bf16) load in transformers with the same logits.

For each tiny golden model, lithe saves it as f32 and as bf16; transformers then loads both and
must give the golden logits (f32: max abs diff <= 1e-5) and the logits of the bf16-rounded weights
(bf16: identical to transformers' own bf16 cast, within 1e-5). Run from the repo root after `npm run build`:
    .venv/bin/python tools/check_roundtrip.py
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM

ROOT = os.path.join(os.path.dirname(__file__), "..")
SAVE = """
import { loadDecoder, saveDecoder } from './dist/src/index.js';
const [src, out, dtype] = process.argv.slice(1);
await saveDecoder(loadDecoder(src), out, { dtype });
"""


def main():
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["llama", "qwen2", "mistral"]:
            src = os.path.join(ROOT, "test", "golden", "models", name)
            ref = json.load(open(os.path.join(src, "logits.json")))
            ids = torch.tensor(ref["input_ids"])
            original = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
            for dtype in ["f32", "bf16"]:
                out = os.path.join(tmp, f"{name}-{dtype}")
                subprocess.run(["node", "--input-type=module", "-e", SAVE, src, out, dtype], cwd=ROOT, check=True)
                saved = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
                expected = original
                if dtype == "bf16":
                    expected = AutoModelForCausalLM.from_pretrained(src, dtype=torch.bfloat16).float().eval()
                with torch.no_grad():
                    diff = (saved(ids).logits - expected(ids).logits).abs().max().item()
                worst = max(worst, diff)
                print(f"{name:8s} {dtype:5s} max |logits diff| = {diff:.3g}")
    ok = worst <= 1e-5
    print("round trip:", "OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
