#!/usr/bin/env python3
"""Write test/golden/align/dpo.json: TRL's DPO losses, reward metrics and gradients on a tiny random Llama, plus TODO
from tools/todo_reference.py on the same batch, for lithe's preferenceLoss and sequence log-probabilities.

What is TRL's own code here: DPOTrainer (TRL 1.13) is built around the tiny policy and a different random reference;
the batch goes through its DataCollatorForPreference (prompt + completion ids concatenated, right padding, a
completion mask) and its _compute_loss (forward, shifted selective_log_softmax, completion-token sums, each loss type,
the metrics). The per-row tensors (log-probs, per_sequence_loss, rewards) are read from _compute_loss's own frame when
it returns, the metrics from trainer._metrics, and the gradients come from backward() on the loss it returns.
TRL 1.13's 'sigmoid' ignores label_smoothing, so 'cdpo' (conservative DPO, ε = 0.1) and 'todo' are computed by the
formulas (cDPO: −(1−ε)·log σ(d) − ε·log σ(−d); TODO: tools/todo_reference.py) on the graph-carrying log-probs that
TRL's _compute_loss produced, then backward() through TRL's forward.
Token ids are passed straight in: no BOS is added, and each completion ends with the EOS id (1) as TRL's text path
(add_eos) would append; pad id 0 never counts.
Numbers are the float32 values written with 9 significant digits (they round-trip to the same float32).
Also asserts the TODO paper values (methods-training.md) and that the three TODO probabilities sum to 1.
Run from the repository root: .venv/bin/python tools/make_dpo_golden.py   (needs `pip install trl`, 1.13)
"""
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
import trl
from datasets import Dataset
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from todo_reference import check_paper_values, todo_losses, todo_predicted, todo_probabilities  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "align" / "dpo.json"
PAD_ID, EOS_ID = 0, 1
VOCAB = 32
ROWS_SEED = 108  # picked so Δ has both signs and one tie row has |Δ| small enough for P(tie) to win

CONFIG = LlamaConfig(
    vocab_size=VOCAB, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=4,
    intermediate_size=16, rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
    max_position_embeddings=64, attention_dropout=0.0, hidden_act="silu", bos_token_id=2, eos_token_id=EOS_ID,
    pad_token_id=PAD_ID,
)

# name: (loss_type in TRL, beta, label_smoothing, alpha for TODO)
LOSSES = {
    "sigmoid": ("sigmoid", 0.1, 0.0, None),
    "cdpo": ("sigmoid", 0.1, 0.1, None),
    "hinge": ("hinge", 0.1, 0.0, None),
    "ipo": ("ipo", 0.1, 0.0, None),
    "robust": ("robust", 0.1, 0.1, None),
    "todo": ("todo", 0.01, 0.0, 0.5),
    "todo_b0.1_a0.7": ("todo", 0.1, 0.0, 0.7),
}


def f32(values) -> list:
    """Flat float32 values as the shortest decimals that read back as the same float32."""
    return [float(f"{v:.9g}") for v in torch.as_tensor(values).detach().to(torch.float32).flatten().tolist()]


def random_model(seed: int, scale: float) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    model = LlamaForCausalLM(CONFIG).to(torch.float32)
    with torch.no_grad():  # HF's init (std 0.02) gives logits too flat to tell the losses apart
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(scale * torch.randn_like(p))
    return model


def make_rows(seed: int = ROWS_SEED) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    # (prompt, chosen, rejected) lengths; completions include the closing EOS
    lengths = [(3, 4, 2), (5, 2, 6), (6, 7, 3), (4, 3, 5)]
    ties = [False, True, False, True]

    def ids(n: int) -> list[int]:
        return torch.randint(2, VOCAB, (n,), generator=g).tolist()

    return [{"prompt": ids(p), "chosen": ids(c - 1) + [EOS_ID], "rejected": ids(r - 1) + [EOS_ID], "tie": t}
            for (p, c, r), t in zip(lengths, ties, strict=True)]


def tiny_tokenizer(size: int = VOCAB) -> PreTrainedTokenizerFast:
    """Word-level ids as text: token i is the word "t{i}"; t0 pads, t1 ends a completion (EOS), t2 is unknown."""
    vocab = {f"t{i}": i for i in range(size)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t2"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()

    def special(word: str) -> AddedToken:  # whole words only, so that "t10" is not read as t1 then "0"
        return AddedToken(word, single_word=True, special=True)

    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=special("t0"), eos_token=special("t1"),
                                   unk_token=special("t2"))


def make_trainer(policy, reference) -> DPOTrainer:
    # DPOTrainer needs a train set; the golden batch is collated separately from the id rows below.
    dummy = Dataset.from_list([{"prompt": "t5 t6", "chosen": " t7", "rejected": " t8"}])
    args = DPOConfig(output_dir="/tmp/lithe-dpo-golden", bf16=False, fp16=False, use_cpu=True, report_to=[],
                     per_device_train_batch_size=4, beta=0.1, loss_type=["sigmoid"], max_length=None,
                     precompute_ref_log_probs=False, seed=0)
    trainer = DPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=dummy,
                         processing_class=tiny_tokenizer())
    trainer.model.train()
    return trainer


def run_trl_loss(trainer: DPOTrainer, inputs: dict, loss_type: str, beta: float, label_smoothing: float):
    """trainer._compute_loss with one loss type; returns (loss, its frame's locals, the logged metrics)."""
    trainer.loss_types, trainer.loss_weights = [loss_type], [1.0]
    trainer.beta, trainer.label_smoothing = beta, label_smoothing
    trainer._metrics["train"].clear()
    code = DPOTrainer._compute_loss.__code__
    captured = {}

    def profiler(frame, event, _arg):
        if event == "return" and frame.f_code is code:
            captured.update(frame.f_locals)

    sys.setprofile(profiler)
    try:
        loss = trainer._compute_loss(trainer.model, inputs, return_outputs=False)
    finally:
        sys.setprofile(None)
    metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    return loss, captured, metrics


def grads_of(model, loss: torch.Tensor) -> dict[str, list]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: f32(p.grad) for name, p in model.named_parameters()}


def main() -> None:
    check_paper_values()
    policy = random_model(seed=1, scale=0.5)
    reference = random_model(seed=2, scale=0.5)
    rows = make_rows()
    trainer = make_trainer(policy, reference)
    examples = [{"prompt_ids": r["prompt"], "chosen_ids": r["chosen"], "rejected_ids": r["rejected"]} for r in rows]
    inputs = trainer.data_collator(examples)
    tie = torch.tensor([r["tie"] for r in rows])

    # Log-probs from TRL's forward (sigmoid run), and from compute_ref_log_probs as a cross-check.
    _, base, _ = run_trl_loss(trainer, inputs, "sigmoid", 0.1, 0.0)
    ref_chosen, ref_rejected = trainer.compute_ref_log_probs(trainer.ref_model, inputs)
    pol_chosen, pol_rejected = trainer.compute_ref_log_probs(trainer.model, inputs)
    assert torch.allclose(base["ref_chosen_logps"], ref_chosen) and torch.allclose(base["chosen_logps"], pol_chosen)
    assert torch.allclose(base["rejected_logps"], pol_rejected)
    chosen_mask, rejected_mask = inputs["completion_mask"].chunk(2, dim=0)
    chosen_tokens, rejected_tokens = chosen_mask.sum(1), rejected_mask.sum(1)
    assert chosen_tokens.tolist() == [len(r["chosen"]) for r in rows]
    logps = {
        "policy_chosen": f32(base["chosen_logps"]), "policy_rejected": f32(base["rejected_logps"]),
        "reference_chosen": f32(base["ref_chosen_logps"]), "reference_rejected": f32(base["ref_rejected_logps"]),
        "chosen_tokens": chosen_tokens.tolist(), "rejected_tokens": rejected_tokens.tolist(),
    }
    logps_avg = {key: f32(base[src].detach() / n) for key, src, n in [
        ("policy_chosen", "chosen_logps", chosen_tokens), ("policy_rejected", "rejected_logps", rejected_tokens),
        ("reference_chosen", "ref_chosen_logps", chosen_tokens),
        ("reference_rejected", "ref_rejected_logps", rejected_tokens)]}

    losses = {}
    for name, (loss_type, beta, eps, alpha) in LOSSES.items():
        # source: "trl" = per-row losses and grads from TRL's loss code; "formula" = the formula on TRL's log-probs
        entry = {"loss_type": loss_type, "beta": beta, "label_smoothing": eps,
                 "source": "formula" if name == "cdpo" or loss_type == "todo" else "trl"}
        trl_type = "sigmoid" if loss_type == "todo" else loss_type
        loss, local, metrics = run_trl_loss(trainer, inputs, trl_type, beta, eps)
        d = beta * (local["chosen_logratios"] - local["rejected_logratios"])
        if name == "cdpo":  # TRL 1.13 has no label smoothing on sigmoid: conservative DPO by its formula
            per_row = -(1 - eps) * F.logsigmoid(d) - eps * F.logsigmoid(-d)
            loss = per_row.mean()
        elif loss_type == "todo":
            entry["alpha"] = alpha
            per_row = todo_losses(d, tie, alpha, eps)
            loss = per_row.mean()
            probs = todo_probabilities(d.detach(), alpha)
            entry["probabilities"] = {k: f32(v) for k, v in probs.items()}
            total = probs["win"] + probs["loss"] + probs["tie"]
            assert (total - 1).abs().max() < 1e-6, total
            predicted = todo_predicted(d.detach(), alpha)
            entry["predicted"] = predicted
            own = ["tie" if t else "win" for t in tie.tolist()]
            pref, tie_rows = per_row.detach()[~tie], per_row.detach()[tie]
            metrics.update({
                "tie_share": tie.float().mean().item(),
                "tie_loss": tie_rows.mean().item(),
                "preference_loss": pref.mean().item(),
                "accuracy_3way": sum(p == o for p, o in zip(predicted, own, strict=True)) / len(own),
            })
        else:
            per_row = local["per_sequence_loss"]
            assert torch.allclose(per_row.mean(), loss, rtol=0, atol=1e-7), (name, per_row.mean(), loss)
        if loss_type == "ipo":
            entry["ipo_delta"] = f32(local["ipo_delta"])
        entry["losses"] = f32(per_row)
        entry["chosen_rewards"] = f32(beta * local["chosen_logratios"])
        entry["rejected_rewards"] = f32(beta * local["rejected_logratios"])
        entry["loss"] = f32(loss)[0]
        entry["metrics"] = {k: metrics[k] for k in ("rewards/chosen", "rewards/rejected", "rewards/accuracies",
                                                    "rewards/margins", "logps/chosen", "logps/rejected")}
        entry["metrics"].update({k: metrics[k] for k in ("tie_share", "tie_loss", "preference_loss",
                                                         "accuracy_3way") if k in metrics})
        entry["grads"] = grads_of(trainer.model, loss)
        losses[name] = entry
        print(f"{name:16s} loss {entry['loss']:.6f} rows {[round(x, 5) for x in entry['losses']]}")

    golden = {
        "config": json.loads(CONFIG.to_json_string()),
        "policy": {n: f32(p) for n, p in policy.named_parameters()},
        "reference": {n: f32(p) for n, p in reference.named_parameters()},
        "shapes": {n: list(p.shape) for n, p in policy.named_parameters()},
        "rows": rows,
        "logps": logps,
        "logps_avg": logps_avg,
        "losses": losses,
        "trl_version": trl.__version__,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
