"""Training, evaluating, saving and loading. Taught in notebooks 04 (training) and 05 (evaluation).

Nothing here reads notebook globals: model, data, optimizer and device are always passed in.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from .data import DataError
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
def _validation_sums(model, loader, device) -> list[float]:
    """``[summed loss, correct predictions, clips]`` of ``model`` (in eval mode) on ``loader``."""
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for waveforms, targets in loader:
        waveforms, targets = waveforms.to(device), targets.to(device)  # (batch, 1, 16000), (batch,)
        log_probs = model(waveforms)  # (batch, num_classes)
        loss_sum += F.nll_loss(log_probs, targets, reduction="sum").item()
        correct += (log_probs.argmax(dim=1) == targets).sum().item()
        seen += len(targets)
    return [loss_sum, correct, seen]


def _comparable(config: TrainConfig) -> dict:
    """The settings a resumed run must share with the run that wrote the checkpoint."""
    settings = {field.name: getattr(config, field.name) for field in fields(config)}
    settings["augment"] = None if config.augment is None else repr(config.augment)  # its kind and settings
    if config.schedule == "constant":
        del settings["num_epochs"]  # more epochs continue a constant rate; a cosine would change its course
    return settings


def _rng_state(device) -> dict:
    """The random generators training draws from: the CPU's and, on a GPU, that device's."""
    state = {"cpu": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif torch.device(device).type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: dict, device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    if "mps" in state:
        torch.mps.set_rng_state(state["mps"])


def _resume(path: Path, config: TrainConfig, checkpoint_info: dict, context) -> dict:
    """The checkpoint at ``path``, after checking that it was written by the same run."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved, now = state.get("config", {}), _comparable(config)
    for key in now:
        if saved.get(key) != now[key]:
            raise DataError(
                f"{path}: was trained with {key}={saved.get(key)!r}, not {now[key]!r}; "
                "resume with the same settings or start afresh"
            )
    for key, value in {**checkpoint_info, "world_size": context.world_size}.items():
        if state.get(key) != value:
            raise DataError(f"{path}: its {key} differs from this run's; start afresh instead of resuming")
    return state


def fit(
    model,
    train_loader,
    config: TrainConfig,
    device,
    val_loader=None,
    progress: bool = True,
    *,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    checkpoint_info: dict | None = None,
    context: distributed.Context | None = None,
    on_epoch_end=None,
) -> dict:
    """Train ``model`` for ``config.num_epochs`` on ``train_loader``; return the history. Notebook 04.

    Loaders yield ``(waveforms (batch, 1, 16000), targets (batch,))``. Every epoch: the shuffle is
    set from ``(config.seed, epoch)`` (:func:`set_epoch`), ``config.augment`` runs in front of the model
    on every training batch (never on validation), the optimizer steps on every batch and the
    schedule once at the end; with ``val_loader``, the model is measured on it after every epoch.
    torch's generator is seeded with ``config.seed + rank`` at the start: the same call gives the same
    weights, and each process of a distributed run draws its own augmentation.

    ``history`` has one value per epoch under "train_loss", "train_accuracy", "lr" (the rate used
    in that epoch), "epoch_seconds" and, with ``val_loader``, "val_loss" and "val_accuracy"; and
    one value per training batch under "batch_loss". Plot it with ``plot_loss_curve``.

    For ``speechlib train`` and long runs (keyword arguments):

    - ``checkpoint``: a file written atomically after every epoch: weights, optimizer and schedule
      state, history, the epoch reached (the sampler's next epoch), every process's CPU (and CUDA or
      MPS) random state, and ``checkpoint_info`` (e.g. ``model_name`` and ``labels``, which make it loadable
      by :func:`load_model`). With ``resume=True`` and that file present, training continues after
      its last epoch and ends with the weights an uninterrupted run gives, bit for bit; the file must
      come from the same settings, ``checkpoint_info`` and number of processes, or :class:`DataError`.
    - ``context``: a :class:`speechlib.distributed.Context` (default: the process group torchrun
      started, if any). With several processes the model is wrapped in DistributedDataParallel,
      which averages gradients; see :mod:`speechlib.distributed` for the augmentation and BatchNorm.
      The training loader gives each process its share (``DistributedSampler``); ``val_loader`` may do
      the same or give every process all validation clips (summed losses and counts are added up over
      processes, so both give the right figure). Losses and accuracies in the history are averaged over
      processes, so every process returns the same history.
    - ``on_epoch_end(epoch, history)``: called in every process after each epoch (and its checkpoint).
    """
    loader_batch_size = getattr(train_loader, "batch_size", None)
    if loader_batch_size is not None and loader_batch_size != config.batch_size:
        raise ValueError(f"the training loader's batch size is {loader_batch_size}, the config's {config.batch_size}")
    context = context or distributed.current(device)
    checkpoint, checkpoint_info = Path(checkpoint) if checkpoint else None, checkpoint_info or {}
    torch.manual_seed(config.seed + context.rank)  # augmentation, dropout and unseeded shuffles draw from it
    model.to(device)
    # The augmentation runs outside the model (and outside DDP): its noise recordings are never sent
    # between processes, and each process draws its own random changes.
    augment = config.augment.to(device).train() if config.augment is not None else None
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    scheduler = make_scheduler(optimizer, config.schedule, config.num_epochs)
    history = {"train_loss": [], "train_accuracy": [], "lr": [], "epoch_seconds": [], "batch_loss": []}
    if val_loader is not None:
        history.update(val_loss=[], val_accuracy=[])
    start_epoch = 0
    if resume and checkpoint is not None and checkpoint.is_file():
        state = _resume(checkpoint, config, checkpoint_info, context)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng_states"][context.rank], device)
        start_epoch, history = state["epoch"], state["history"]
        if context.is_main:
            print(f"resuming from {checkpoint} after epoch {start_epoch}")
    trained = distributed.wrap(model, context)  # DDP with several processes, else the model itself

    for epoch in tqdm(range(start_epoch, config.num_epochs), desc="epochs", disable=not (progress and context.is_main)):
        set_epoch(train_loader, epoch, config.seed)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        started = time.perf_counter()
        batch_losses, accuracy = train_one_epoch(
            trained, train_loader, optimizer, device, progress and context.is_main, f"epoch {epoch + 1}", augment
        )
        if scheduler is not None:
            scheduler.step()  # once per epoch: the rate depends on the epoch, not on the batch
        distributed.average_batch_norm(model, context)  # every process ends the epoch with the same model
        history["epoch_seconds"].append(time.perf_counter() - started)
        batch_losses = distributed.average(batch_losses, context)
        history["batch_loss"] += batch_losses
        history["train_loss"].append(sum(batch_losses) / max(len(batch_losses), 1))
        history["train_accuracy"].append(distributed.average([accuracy], context)[0])
        if val_loader is not None:
            loss_sum, correct, seen = distributed.total(_validation_sums(model, val_loader, device), context)
            history["val_loss"].append(loss_sum / max(seen, 1))
            history["val_accuracy"].append(correct / max(seen, 1))
        if checkpoint is not None:
            rng_states = distributed.gather(_rng_state(device), context)  # each process's own
            if context.is_main:
                atomic_save(
                    {
                        **checkpoint_info,
                        "state_dict": {name: value.detach().cpu() for name, value in model.state_dict().items()},
                        "optimizer": optimizer.state_dict(),
                        "scheduler": None if scheduler is None else scheduler.state_dict(),
                        "epoch": epoch + 1,
                        "history": history,
                        "config": _comparable(config),
                        "world_size": context.world_size,
                        "rng_states": rng_states,
                    },
                    checkpoint,
                )
            distributed.barrier(context)  # nobody goes on (or resumes) before the file is complete
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
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

    Taught in notebook 10.
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
    a half-written file under the real name. :func:`save_model` and :func:`fit`'s checkpoints use it."""
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
    """Load a file written by :func:`save_model` safely (``weights_only=True``); :func:`load_model` reads with it."""
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
    model = build_model(checkpoint["model_name"], len(checkpoint["labels"]), checkpoint.get("settings"))
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model, checkpoint["labels"]
