"""Training, evaluating, saving and loading. Taught in notebooks 04 (training) and 05 (evaluation).

Nothing here reads notebook globals: model, data, optimizer and device are always passed in.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data import DataError
from .files import atomic_write


def train_one_epoch(model, loader, optimizer, device, progress: bool = True, description: str = "train"):
    """One pass over ``loader``. Returns ``(batch_losses, accuracy)``. Notebook 04."""
    model.train()  # layers such as dropout behave differently when training
    batch_losses, correct, seen = [], 0, 0
    # The bar is updated by hand: tqdm.auto wrapping the loader would open an extra iterator, which
    # draws from the loader's seeded generator and changes the shuffled order.
    progress_bar = tqdm(total=len(loader), desc=description, disable=not progress, leave=False)
    for waveforms, targets in loader:
        waveforms, targets = waveforms.to(device), targets.to(device)  # (batch, 1, 16000), (batch,)
        optimizer.zero_grad()  # gradients add up unless cleared
        log_probs = model(waveforms)  # (batch, num_classes)
        loss = F.nll_loss(log_probs, targets)
        loss.backward()
        optimizer.step()
        batch_losses.append(loss.item())
        correct += (log_probs.argmax(dim=1) == targets).sum().item()
        seen += len(targets)
        progress_bar.update(1)
    progress_bar.close()
    return batch_losses, correct / max(seen, 1)


def train(model, loader, optimizer, device, num_epochs: int = 1, progress: bool = True) -> dict:
    """Train for ``num_epochs`` and return the history (plot it with ``plot_loss_curve``). Notebook 04.

    ``history["loss"]`` has one value per batch, ``history["epoch_loss"]`` and
    ``history["train_accuracy"]`` one per epoch.
    """
    model.to(device)
    history = {"loss": [], "epoch_loss": [], "train_accuracy": []}
    for epoch in tqdm(range(num_epochs), desc="epochs", disable=not progress):
        batch_losses, accuracy = train_one_epoch(model, loader, optimizer, device, progress, f"epoch {epoch + 1}")
        history["loss"] += batch_losses
        history["epoch_loss"].append(sum(batch_losses) / max(len(batch_losses), 1))
        history["train_accuracy"].append(accuracy)
    return history


@torch.no_grad()  # no graph is kept: faster, and less memory
def predict(model, loader, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted class and true class of every clip in ``loader``. Notebook 05."""
    model.eval()
    model.to(device)
    predictions, targets = [], []
    for waveforms, batch_targets in loader:
        predictions.append(model(waveforms.to(device)).argmax(dim=1).cpu())
        targets.append(batch_targets)
    return torch.cat(predictions), torch.cat(targets)


@torch.no_grad()
def top_k(model: torch.nn.Module, clip: torch.Tensor, labels: list[str], k: int = 3) -> list[tuple[str, float]]:
    """The model's ``k`` most probable words for one clip ``(1, 16000)``, as ``(word, probability)``.

    Taught in notebook 07.
    """
    model.eval()
    device = next(model.parameters()).device
    log_probs = model(clip.unsqueeze(0).to(device))  # (1, num_classes)
    probs, indices = log_probs.exp()[0].topk(min(k, len(labels)))  # (k,), (k,)
    return [(labels[i], float(p)) for p, i in zip(probs.tolist(), indices.tolist())]


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``matrix[true, predicted]`` counts. Notebook 05."""
    flat = targets * num_classes + predictions
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def evaluate(model, loader, device, labels: list[str]) -> dict:
    """Accuracy, per-class accuracy and the confusion matrix on ``loader``. Notebook 05.

    ``per_class`` maps each word to its accuracy (``None`` for a word with no clips in ``loader``).
    """
    predictions, targets = predict(model, loader, device)
    matrix = confusion_matrix(predictions, targets, len(labels))
    per_class_totals = matrix.sum(dim=1)
    per_class = {
        label: (matrix[i, i].item() / per_class_totals[i].item()) if per_class_totals[i] else None
        for i, label in enumerate(labels)
    }
    accuracy = (predictions == targets).float().mean().item() if len(targets) else 0.0
    return {
        "accuracy": accuracy,
        "per_class": per_class,
        "confusion": matrix,
        "predictions": predictions,
        "targets": targets,
    }


def atomic_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash never leaves
    a half-written file under the real name. Notebook 04."""
    with atomic_write(path) as f:
        torch.save(obj, f)
    return Path(path)


def save_model(model, path: str | os.PathLike, labels: list[str], model_name: str, **extra) -> Path:
    """Save ``model``'s ``state_dict`` with what is needed to rebuild it. Notebook 04.

    The file is a plain dict of tensors, strings and numbers, so it loads with ``weights_only=True``.
    """
    checkpoint = {
        "model_name": model_name,
        "labels": list(labels),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    return atomic_save(checkpoint, path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a file written by :func:`save_model` safely (``weights_only=True``). Notebook 05."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for a truncated or foreign file
        # torch's own message runs to several lines and suggests weights_only=False: name the type only
        raise DataError(f"{path}: not a readable speechlib model ({type(error).__name__} from torch.load)") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "model_name" not in checkpoint:
        raise DataError(f"{path}: not a speechlib model file (no model_name/state_dict)")
    return checkpoint


def load_model(path: str | os.PathLike, map_location="cpu"):
    """Rebuild the model saved at ``path``. Returns ``(model, labels)``, the model in eval mode. Notebook 05."""
    from .models import build_model

    checkpoint = load_checkpoint(path, map_location)
    model = build_model(checkpoint["model_name"], num_classes=len(checkpoint["labels"]))
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model, checkpoint["labels"]
