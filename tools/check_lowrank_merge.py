"""`lithe lowrank --merge` writes checkpoints that transformers loads with the factorised model's logits.

For each tiny golden model (LLaMA; Qwen2, whose q/k/v biases ride on the U factor; Mistral), lithe writes a
factorised checkpoint and a merged one (WeLore at ERR 0.5, f32). lithe's logits of the factorised checkpoint
must match transformers' logits of the merged one within 1e-4. Run from the repo root after `npm run build`:
    .venv/bin/python tools/check_lowrank_merge.py
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM

ROOT = os.path.join(os.path.dirname(__file__), "..")
LOGITS = """
import { loadDecoder } from './dist/src/index.js';
const [dir, ids] = process.argv.slice(1);
const model = await loadDecoder(dir);
process.stdout.write(JSON.stringify(Array.from(model.forward(JSON.parse(ids)).floatData())));
"""
TOLERANCE = 1e-4


def lowrank(src, out, *flags):
    cmd = ["node", "bin/lithe.js", "lowrank", "--model", src, "--out", out, "--method", "welore", "--err", "0.5",
           "--save-dtype", "f32", *flags]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)


def main():
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["llama", "qwen2", "mistral"]:
            src = os.path.join(ROOT, "test", "golden", "models", name)
            ids = json.load(open(os.path.join(src, "logits.json")))["input_ids"]
            factorised, merged = os.path.join(tmp, f"{name}-lr"), os.path.join(tmp, f"{name}-merged")
            lowrank(src, factorised)
            lowrank(src, merged, "--merge")
            assert "low_rank" in json.load(open(os.path.join(factorised, "config.json")))
            run = subprocess.run(["node", "--input-type=module", "-e", LOGITS, factorised, json.dumps(ids)],
                                 cwd=ROOT, check=True, capture_output=True, text=True)
            lithe = torch.tensor(json.loads(run.stdout))
            model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
            with torch.no_grad():
                hf = model(torch.tensor(ids)).logits.reshape(-1)
            diff = (hf - lithe).abs().max().item()
            worst = max(worst, diff)
            print(f"{name:8s} max |logits diff| (lithe factorised vs transformers merged) = {diff:.3g}")
    ok = worst <= TOLERANCE
    print("lowrank merge:", "OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
