"""TODO (Ternary DPO, arXiv 2411.02442) written from the paper's formulas in PyTorch: the reference that lithe's
preferenceLoss({ loss: 'todo' }) and its three-way evaluation are checked against (see tools/make_dpo_golden.py).

With d = β·Δ, Δ = [log πθ(y⁺) − log πref(y⁺)] − [log πθ(y⁻) − log πref(y⁻)], and the tie margin α > 0
(the paper's code stores θ = −α):
  non-tie rows: −(1−ε)·log σ(d − α) − ε·log σ(α − d)   (ε = label smoothing, 0 by default: −log σ(d − α))
  tie rows:     −log(expm1(2α)) + softplus(α − d) + softplus(α + d)
  P(win) = σ(d − α), P(loss) = σ(−d − α), P(tie) = (e^{2α} − 1)·σ(d − α)·σ(−d − α); the three sum to 1.
The predicted outcome is the most probable of the three (first of win, loss, tie on equality).
Run `.venv/bin/python tools/todo_reference.py` to assert the paper's test values (methods-training.md) to 1e-6.
"""
import math

import torch
import torch.nn.functional as F

OUTCOMES = ("win", "loss", "tie")


def todo_losses(d: torch.Tensor, tie: torch.Tensor, alpha: float, label_smoothing: float = 0.0) -> torch.Tensor:
    """Per-row TODO loss. d: [B] = β·Δ; tie: [B] bool; returns [B]."""
    shifted = d - alpha
    preference = -(1 - label_smoothing) * F.logsigmoid(shifted) - label_smoothing * F.logsigmoid(-shifted)
    tie_term = -math.log(math.expm1(2 * alpha)) + F.softplus(alpha - d) + F.softplus(alpha + d)
    return torch.where(tie, tie_term, preference)


def todo_probabilities(d: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
    """Rao-Kupper outcome probabilities of each row: win (chosen ≻ rejected), loss, tie; each [B]."""
    win = torch.sigmoid(d - alpha)
    loss = torch.sigmoid(-d - alpha)
    return {"win": win, "loss": loss, "tie": math.expm1(2 * alpha) * win * loss}


def todo_predicted(d: torch.Tensor, alpha: float) -> list[str]:
    """The most probable outcome of each row."""
    probs = todo_probabilities(d, alpha)
    stacked = torch.stack([probs[name] for name in OUTCOMES], dim=1)
    return [OUTCOMES[i] for i in stacked.argmax(dim=1).tolist()]


# The paper's test values at α = 0.5 (methods-training.md): d → (non-tie loss, tie loss).
PAPER_VALUES = {0.0: (0.974077, 1.406829), 0.5: (0.693147, 1.465084), 1.0: (0.474077, 1.634165),
                2.0: (0.201413, 2.238978)}


def check_paper_values() -> None:
    d = torch.tensor(list(PAPER_VALUES), dtype=torch.float64)
    expected_pref = torch.tensor([v[0] for v in PAPER_VALUES.values()], dtype=torch.float64)
    expected_tie = torch.tensor([v[1] for v in PAPER_VALUES.values()], dtype=torch.float64)
    pref = todo_losses(d, torch.zeros(len(d), dtype=torch.bool), 0.5)
    tie = todo_losses(d, torch.ones(len(d), dtype=torch.bool), 0.5)
    assert (pref - expected_pref).abs().max() < 1e-6, (pref, expected_pref)
    assert (tie - expected_tie).abs().max() < 1e-6, (tie, expected_tie)
    for alpha in (0.5, 0.7, 2.0):
        probs = todo_probabilities(torch.linspace(-6, 6, 25, dtype=torch.float64), alpha)
        total = probs["win"] + probs["loss"] + probs["tie"]
        assert (total - 1).abs().max() < 1e-12, total
        # The tie loss is −log P(tie) and the non-tie loss −log P(win).
        d_grid = torch.linspace(-6, 6, 25, dtype=torch.float64)
        ties = torch.ones(25, dtype=torch.bool)
        assert (todo_losses(d_grid, ties, alpha) + probs["tie"].log()).abs().max() < 1e-12
        assert (todo_losses(d_grid, ~ties, alpha) + probs["win"].log()).abs().max() < 1e-12


if __name__ == "__main__":
    check_paper_values()
    print("TODO paper values match to 1e-6; the three probabilities sum to 1")
