"""Make tiny random LLaMA / Qwen2 / Mistral checkpoints and transformers' logits on fixed inputs.

lithe's decoder must reproduce these logits (test/models/llama.test.ts). Run from the repo root:
    .venv/bin/python tools/make_tiny_models.py
"""
import json
import os

import torch
from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "golden", "models")

COMMON = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rms_norm_eps=1e-5,
    bos_token_id=0,
    eos_token_id=0,
)

MODELS = {
    # GQA, untied, explicit head_dim different from hidden/heads, llama3 rope scaling.
    "llama": (
        LlamaForCausalLM,
        LlamaConfig(
            **COMMON,
            head_dim=12,
            tie_word_embeddings=False,
            rope_parameters={
                "rope_type": "llama3",
                "rope_theta": 10000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
        ),
    ),
    # q/k/v biases, tied embeddings, linear rope scaling.
    "qwen2": (
        Qwen2ForCausalLM,
        Qwen2Config(
            **COMMON,
            tie_word_embeddings=True,
            rope_parameters={"rope_type": "linear", "rope_theta": 1000.0, "factor": 2.0},
        ),
    ),
    # Sliding window shorter than the inputs.
    "mistral": (
        MistralForCausalLM,
        MistralConfig(**COMMON, sliding_window=4, tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
    ),
}


def main():
    gen = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, COMMON["vocab_size"], (2, 9), generator=gen)
    for name, (cls, config) in MODELS.items():
        torch.manual_seed(1)
        config._attn_implementation = "eager"
        model = cls(config).to(torch.float32).eval()
        # Random non-trivial norms and biases so that every parameter matters.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith("norm.weight"):
                    p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
                elif pname.endswith("bias"):
                    p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        out_dir = os.path.join(OUT, name)
        model.save_pretrained(out_dir, safe_serialization=True)
        with torch.no_grad():
            logits = model(input_ids).logits
        with open(os.path.join(out_dir, "logits.json"), "w") as f:
            json.dump(
                {
                    "input_ids": input_ids.tolist(),
                    "shape": list(logits.shape),
                    "logits": [round(v, 7) for v in logits.flatten().tolist()],
                },
                f,
            )
        print(name, sum(p.numel() for p in model.parameters()), "params")


if __name__ == "__main__":
    main()
