"""Multiple-choice log-likelihoods with transformers, scored as lm-evaluation-harness scores them.

Makes (once) a small cloze task from the sotu:test export, then writes every choice's summed
log-probability and the resulting acc / acc_norm to test/golden/llama-ref-multiple-choice.json,
which `npm run check:hf` compares lithe against. Run from the repo root:
    node bin/lithe.js data export --corpus sotu:test --out /tmp/sotu-test.txt
    .venv/bin/python tools/hf_multiple_choice.py --model ../shared/models/llama-ref --text /tmp/sotu-test.txt
"""
import argparse
import json
import os
import random
import re

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..")
TASK = os.path.join(ROOT, "test", "golden", "tasks", "sotu-cloze.jsonl")
OUT = os.path.join(ROOT, "test", "golden", "llama-ref-multiple-choice.json")


def make_task(text, n=40, seed=0):
    rng = random.Random(seed)
    sentences = [s.split() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 14]
    rng.shuffle(sentences)
    items = []
    for words in sentences[:n]:
        context = " ".join(words[:8])
        truth = " ".join(words[8:14])
        others = [" ".join(o[8:14]) for o in rng.sample(sentences, 3)]
        choices = others + [truth]
        rng.shuffle(choices)
        items.append({"context": context, "choices": choices, "answer": choices.index(truth)})
    return items


def loglikelihood(model, tok, context, continuation):
    # The harness: a trailing space of the context moves to the continuation; the continuation's
    # tokens are those of encode(context + continuation) past len(encode(context)).
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tok(context + continuation, add_special_tokens=False).input_ids
    ctx = tok(context, add_special_tokens=False).input_ids
    cont = whole[len(ctx):]
    ids = torch.tensor([(ctx + cont)[:-1]])
    with torch.inference_mode():
        logp = torch.log_softmax(model(ids).logits.float(), dim=-1)[0]
    start = len(ctx) - 1
    return sum(logp[start + i, t].item() for i, t in enumerate(cont))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    if not os.path.exists(TASK):
        with open(args.text, encoding="utf-8") as f:
            items = make_task(f.read())
        with open(TASK, "w") as f:
            f.write("".join(json.dumps(i) + "\n" for i in items))
    items = [json.loads(line) for line in open(TASK)]
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    scores, correct, correct_norm = [], 0, 0
    for item in items:
        lls = [loglikelihood(model, tok, item["context"], " " + c) for c in item["choices"]]
        norm = [ll / len(c.encode("utf-8")) for ll, c in zip(lls, item["choices"])]
        correct += max(range(len(lls)), key=lambda i: lls[i]) == item["answer"]
        correct_norm += max(range(len(norm)), key=lambda i: norm[i]) == item["answer"]
        scores.append(lls)
    json.dump({"loglikelihoods": scores, "acc": correct / len(items), "acc_norm": correct_norm / len(items)}, open(OUT, "w"))
    print(f"acc {correct / len(items):.4f} acc_norm {correct_norm / len(items):.4f} over {len(items)} items")


if __name__ == "__main__":
    main()
