#!/usr/bin/env python3
"""DPO step throughput of TRL's DPOTrainer on PyTorch CPU, for bench/align.ts.

The same workload as the lithe side: transformers' LlamaForCausalLM in llama-ref's configuration, f32, random init
(seeded; the reference has the policy's initial weights), batches of 8 pairs, each answer prompt 64 + completion 192
random token ids (the completion's last one the EOS that TRL's text path appends), sigmoid loss, β 0.1, AdamW,
gradient clipping to 1.0. DPOTrainer.train() itself is driven: the ids go in as text for a word-level tokenizer
(make_dpo_golden.tiny_tokenizer: id i is the word "t{i}"), so TRL tokenises, collates and computes the loss its own way.
A step's time is the wall time between consecutive on_step_end callbacks (data loading, forward, backward, clipping,
optimiser step, logging); the first --warmup steps are not timed. With --precompute-ref, TRL's precompute_ref_log_probs
scores every pair once in the constructor (timed apart, as precompute_seconds) and no reference model is kept.
Prints one JSON line: {tokens_per_second, steps, seconds, peak_rss_mb, final_loss, precompute_seconds}; tokens/s
counts both answers of every pair, 2 × pairs × 256 per step.
"""
import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # precompute_ref_log_probs' progress bar

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, TrainerCallback  # noqa: E402
from transformers.trainer_callback import ProgressCallback  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_dpo_golden import EOS_ID, tiny_tokenizer  # noqa: E402
from torch_train_bench import add_model_args  # noqa: E402

FIRST_ID = 2  # ids 0 (pad) and 1 (EOS) only where TRL puts them


class StepClock(TrainerCallback):
    """The wall time at the end of every optimiser step, and the logged losses."""

    def __init__(self):
        self.ends = []
        self.losses = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(logs["loss"])


class TimedDPOTrainer(DPOTrainer):
    """DPOTrainer that times its precompute_ref_log_probs pass."""

    precompute_seconds = 0.0

    def _precompute_ref_logps(self, dataset, name, batch_size):
        start = time.perf_counter()
        out = super()._precompute_ref_logps(dataset, name, batch_size)
        self.precompute_seconds += time.perf_counter() - start
        return out


def random_pairs(count: int, prompt: int, completion: int, vocab: int, seed: int) -> Dataset:
    """Text rows of random word-level ids; chosen and rejected differ, each ends where TRL appends EOS."""
    g = torch.Generator().manual_seed(seed)

    def words(n: int) -> str:
        return " ".join(f"t{i}" for i in torch.randint(FIRST_ID, vocab, (n,), generator=g).tolist())

    # The trailing space keeps TRL's appended EOS word apart from the last completion word.
    return Dataset.from_list([
        {"prompt": words(prompt), "chosen": f" {words(completion - 1)} ", "rejected": f" {words(completion - 1)} "}
        for _ in range(count)
    ])


def main():
    p = argparse.ArgumentParser()
    add_model_args(p)
    p.add_argument("--pairs", type=int, default=8, help="pairs per batch")
    p.add_argument("--prompt", type=int, default=64)
    p.add_argument("--completion", type=int, default=192)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precompute-ref", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    config = LlamaConfig(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
        head_dim=a.hidden // a.heads, max_position_embeddings=1024, rms_norm_eps=1e-5,
        tie_word_embeddings=False, pad_token_id=0, eos_token_id=EOS_ID,
    )
    torch.manual_seed(0)
    policy = LlamaForCausalLM(config).float()
    reference = None
    if not a.precompute_ref:
        reference = LlamaForCausalLM(config).float()
        reference.load_state_dict(policy.state_dict())
    total_steps = a.warmup + a.steps
    pairs = random_pairs(a.pairs * total_steps, a.prompt, a.completion, a.vocab, seed=0)
    args = DPOConfig(
        output_dir="/tmp/lithe-trl-align-bench", use_cpu=True, bf16=False, fp16=False, report_to=[],
        per_device_train_batch_size=a.pairs, max_steps=total_steps, learning_rate=1e-3, adam_beta2=0.95,
        weight_decay=0.1, max_grad_norm=1.0, beta=0.1, loss_type=["sigmoid"], max_length=None,
        precompute_ref_log_probs=a.precompute_ref, logging_steps=1, save_strategy="no", seed=0,
        dataloader_num_workers=0,
    )
    clock = StepClock()
    trainer = TimedDPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=pairs,
                              processing_class=tiny_tokenizer(a.vocab), callbacks=[clock])
    trainer.remove_callback(ProgressCallback)
    row = trainer.train_dataset[0]
    lengths = (len(row["prompt_ids"]), len(row["chosen_ids"]), len(row["rejected_ids"]))
    assert lengths == (a.prompt, a.completion, a.completion), lengths
    trainer.train()
    seconds = clock.ends[-1] - clock.ends[a.warmup]
    timed_tokens = a.steps * 2 * a.pairs * (a.prompt + a.completion)
    print(json.dumps({
        "tokens_per_second": timed_tokens / seconds,
        "steps": a.steps,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "final_loss": clock.losses[-1],
        "precompute_seconds": trainer.precompute_seconds if a.precompute_ref else None,
        "optimizer": type(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer")
                          else trainer.optimizer).__name__ + f" ({args.optim})",
    }))


if __name__ == "__main__":
    main()
