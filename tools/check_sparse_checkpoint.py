"""A pruned lithe checkpoint in transformers: it loads, its config.json sparsity record is only carried along, and the
logits equal lithe's.

    python tools/check_sparse_checkpoint.py MODEL_DIR LITHE_LOGITS_JSON

LITHE_LOGITS_JSON holds {"input_ids": [[...]], "logits": [...flat f32...]} from lithe (bench/check-sparse.ts writes
it). Checks, in float32:
- transformers loads MODEL_DIR, and its logits are bit-identical to those of the same weights under a config.json
  without the `sparsity` entry (the record changes nothing transformers computes);
- each recorded module's weight holds the recorded number of zeros;
- max |transformers logits - lithe logits| (printed; the caller sets the limit).
Prints one JSON object on stdout.
"""
import json
import os
import shutil
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging

logging.disable_progress_bar()


def main():
    model_dir, logits_file = sys.argv[1], sys.argv[2]
    lithe = json.load(open(logits_file))
    ids = torch.tensor(lithe["input_ids"])
    config = json.load(open(os.path.join(model_dir, "config.json")))
    record = config["sparsity"]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with tempfile.TemporaryDirectory() as tmp:
        plain_dir = os.path.join(tmp, "plain")
        shutil.copytree(model_dir, plain_dir)
        plain_config = {k: v for k, v in config.items() if k != "sparsity"}
        json.dump(plain_config, open(os.path.join(plain_dir, "config.json"), "w"))
        plain = AutoModelForCausalLM.from_pretrained(plain_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(ids).logits
        plain_logits = plain(ids).logits
    params = dict(model.named_parameters())
    zero_mismatches = []
    for name, sparsity in record["modules"].items():
        weight = params[f"{name}.weight"]
        zeros = int((weight == 0).sum().item())
        if zeros != round(sparsity * weight.numel()):
            zero_mismatches.append(name)
    lithe_logits = torch.tensor(lithe["logits"], dtype=torch.float32).reshape(logits.shape)
    print(
        json.dumps(
            {
                "modules": len(record["modules"]),
                "global_sparsity": record["global_sparsity"],
                "record_ignored": bool(torch.equal(logits, plain_logits)),
                "zero_mismatches": zero_mismatches,
                "max_abs_diff": (logits - lithe_logits).abs().max().item(),
                "max_abs_logit": logits.abs().max().item(),
            }
        )
    )


if __name__ == "__main__":
    main()
