"""The models of the series. Every model takes raw clips ``(batch, 1, 16000)`` and returns
log-probabilities ``(batch, num_classes)``, so one train/evaluate loop serves them all.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import CLIP_SAMPLES


class SimpleNet(nn.Module):
    """Three linear layers on raw samples: 16000 -> 128 -> 64 -> 35. Taught in notebook 03.

    ReLU between layers, none after the last: the last layer's outputs (logits) may be any real
    number, and ``log_softmax`` turns them into log-probabilities for ``nll_loss``.
    """

    def __init__(self, num_classes: int = 35, num_samples: int = CLIP_SAMPLES):
        super().__init__()
        self.fc1 = nn.Linear(num_samples, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, num_classes)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        x = waveforms.flatten(1)  # (batch, 1, 16000) -> (batch, 16000)
        x = F.relu(self.fc1(x))  # (batch, 128)
        x = F.relu(self.fc2(x))  # (batch, 64)
        logits = self.fc3(x)  # (batch, num_classes)
        return F.log_softmax(logits, dim=1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers in ``model``. Notebook 03."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


MODELS = {"simplenet": SimpleNet}


def build_model(name: str, num_classes: int = 35) -> nn.Module:
    """A fresh model by name (``"simplenet"``, ``"cnn"``), as the CLI and saved checkpoints name them."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name](num_classes=num_classes)
