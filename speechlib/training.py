"""Training, evaluating, saving and loading. Taught in notebooks 04 (training) and 05 (evaluation).

Nothing here reads notebook globals: model, data, optimizer and device are always passed in.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .files import atomic_write


def train_one_epoch(model, loader, optimizer, device, progress: bool = True, description: str = "train", augment=None):
    """One pass over ``loader``. Returns ``(batch_losses, accuracy)``. Notebook 04.

    ``augment`` (optional, e.g. a :class:`speechlib.augment.WaveformAugment`) changes every batch
    before the model sees it; :func:`fit` passes its ``config.augment`` here.
    """
    model.train()  # layers such as dropout behave differently when training
    batch_losses, correct, seen = [], 0, 0
    # The bar is updated by hand: tqdm.auto wrapping the loader would open an extra iterator, which
    # draws from the loader's seeded generator and changes the shuffled order.
    progress_bar = tqdm(total=len(loader), desc=description, disable=not progress, leave=False)
    for waveforms, targets in loader:
        waveforms, targets = waveforms.to(device), targets.to(device)  # (batch, 1, 16000), (batch,)
        if augment is not None:
            waveforms = augment(waveforms)  # a new variant of every clip, every time
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


@dataclass
class TrainConfig:
    """Everything :func:`fit` needs besides the model and the data. Notebook 04.

    ``optimizer`` names a class of ``torch.optim`` (any case: "adam", "adamw", "sgd", ...);
    ``schedule`` is "constant" or "cosine" (``torch.optim.lr_scheduler.CosineAnnealingLR`` over
    ``num_epochs``, stepped once per epoch); ``augment`` is an ``nn.Module`` run on training batches
    only (e.g. :class:`speechlib.augment.WaveformAugment`); ``seed`` seeds shuffling and the random
    draws of training (augmentation, dropout). ``batch_size`` is the loader's: :func:`fit` checks it.
    """

    num_epochs: int = 5
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    augment: nn.Module | None = None
    seed: int = 0


SCHEDULES = ("constant", "cosine")


def make_optimizer(name: str, parameters, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The ``torch.optim`` class called ``name`` (case-insensitive), e.g. ``"adamw"`` -> ``AdamW``."""
    classes = {
        class_name.lower(): value
        for class_name, value in vars(torch.optim).items()
        if isinstance(value, type) and issubclass(value, torch.optim.Optimizer) and value is not torch.optim.Optimizer
    }
    if name.lower() not in classes:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(sorted(classes))}")
    return classes[name.lower()](parameters, lr=lr, weight_decay=weight_decay)


def make_scheduler(optimizer, schedule: str, num_epochs: int):
    """None for "constant"; torch's ``CosineAnnealingLR`` (from ``lr`` to 0 over ``num_epochs``) for "cosine"."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=num_epochs)
    return None


def set_epoch(loader, epoch: int, seed: int) -> None:
    """Make this epoch's shuffle a function of ``(seed, epoch)``.

    A sampler with ``set_epoch`` (``DistributedSampler``) is told the epoch; a ``DataLoader`` with its
    own ``generator`` gets that generator seeded with ``seed + epoch`` (``DistributedSampler``'s rule).
    A loader with neither shuffles from torch's global generator, which :func:`fit` seeds once.
    """
    for owner in (
        loader,
        getattr(loader, "sampler", None),
        getattr(loader, "batch_sampler", None),
        getattr(getattr(loader, "batch_sampler", None), "sampler", None),
    ):
        if hasattr(owner, "set_epoch"):
            owner.set_epoch(epoch)
            return
    generator = getattr(loader, "generator", None)
    if isinstance(generator, torch.Generator):
        generator.manual_seed(seed + epoch)


@torch.no_grad()
def loss_and_accuracy(model, loader, device) -> tuple[float, float]:
    """Mean loss per clip and accuracy of ``model`` (in eval mode) on ``loader``. Notebook 04."""
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for waveforms, targets in loader:
        waveforms, targets = waveforms.to(device), targets.to(device)  # (batch, 1, 16000), (batch,)
        log_probs = model(waveforms)  # (batch, num_classes)
        loss_sum += F.nll_loss(log_probs, targets, reduction="sum").item()
        correct += (log_probs.argmax(dim=1) == targets).sum().item()
        seen += len(targets)
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def fit(model, train_loader, config: TrainConfig, device, val_loader=None, progress: bool = True) -> dict:
    """Train ``model`` for ``config.num_epochs`` on ``train_loader``; return the history. Notebook 04.

    Loaders yield ``(waveforms (batch, 1, 16000), targets (batch,))``. Every epoch: the shuffle is
    set from ``(config.seed, epoch)`` (:func:`set_epoch`), ``config.augment`` runs in front of the model
    on every training batch (never on validation), the optimizer steps on every batch and the
    schedule once at the end; with ``val_loader``, the model is measured on it after every epoch.
    torch's global generator is seeded with ``config.seed`` at the start, so the same call gives the
    same weights.

    ``history`` has one value per epoch under "train_loss", "train_accuracy", "lr" (the rate used
    in that epoch), "epoch_seconds" and, with ``val_loader``, "val_loss" and "val_accuracy"; and
    one value per training batch under "batch_loss". Plot it with ``plot_loss_curve``.
    """
    loader_batch_size = getattr(train_loader, "batch_size", None)
    if loader_batch_size is not None and loader_batch_size != config.batch_size:
        raise ValueError(f"the training loader's batch size is {loader_batch_size}, the config's {config.batch_size}")
    torch.manual_seed(config.seed)  # augmentation, dropout and unseeded shuffles draw from it
    model.to(device)
    augment = config.augment.to(device).train() if config.augment is not None else None
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    scheduler = make_scheduler(optimizer, config.schedule, config.num_epochs)
    history = {"train_loss": [], "train_accuracy": [], "lr": [], "epoch_seconds": [], "batch_loss": []}
    if val_loader is not None:
        history.update(val_loss=[], val_accuracy=[])
    for epoch in tqdm(range(config.num_epochs), desc="epochs", disable=not progress):
        set_epoch(train_loader, epoch, config.seed)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        started = time.perf_counter()
        batch_losses, accuracy = train_one_epoch(
            model, train_loader, optimizer, device, progress, f"epoch {epoch + 1}", augment
        )
        history["epoch_seconds"].append(time.perf_counter() - started)
        if scheduler is not None:
            scheduler.step()  # once per epoch: the rate depends on the epoch, not on the batch
        history["batch_loss"] += batch_losses
        history["train_loss"].append(sum(batch_losses) / max(len(batch_losses), 1))
        history["train_accuracy"].append(accuracy)
        if val_loader is not None:
            val_loss, val_accuracy = loss_and_accuracy(model, val_loader, device)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_accuracy)
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
        raise ValueError(f"{path}: not a readable speechlib model ({error})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "model_name" not in checkpoint:
        raise ValueError(f"{path}: not a speechlib model file (no model_name/state_dict)")
    return checkpoint


def load_model(path: str | os.PathLike, map_location="cpu"):
    """Rebuild the model saved at ``path``. Returns ``(model, labels)``, the model in eval mode. Notebook 05."""
    from .models import build_model

    checkpoint = load_checkpoint(path, map_location)
    model = build_model(checkpoint["model_name"], num_classes=len(checkpoint["labels"]))
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model, checkpoint["labels"]
