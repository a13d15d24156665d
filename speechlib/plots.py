"""The pictures of the series, drawn with matplotlib.

Every helper takes ``ax=None`` (draw on a new figure) or an existing Axes (draw into a grid),
and returns the Axes so you can add to it: ``ax = plot_waveform(w, 16000); ax.axvline(0.5)``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def _axes(ax, figsize=(6, 2.5)):
    """The Axes to draw on: ``ax`` itself, or a new figure's."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _numpy(values) -> np.ndarray:
    """Tensors (on any device) and lists become numpy arrays."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def plot_waveform(waveform, sample_rate: int, ax=None, title: str | None = None):
    """Samples against time in seconds. Taught in notebook 01.

    ``waveform`` is ``(1, n)`` or ``(n,)``: one mono clip.
    """
    samples = _numpy(waveform).reshape(-1)  # (n,)
    ax = _axes(ax)
    seconds = np.arange(len(samples)) / sample_rate
    ax.plot(seconds, samples, linewidth=0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    ax.set_xlim(0, max(len(samples) / sample_rate, 1e-9))
    if title:
        ax.set_title(title)
    return ax


def plot_spectrogram(
    spec,
    ax=None,
    title: str | None = None,
    hop_seconds: float | None = None,
    ylabel: str | None = None,
    colorbar: bool = True,
    frequencies=None,
):
    """A spectrogram ``(freq, frames)`` (or ``(1, freq, frames)``) as an image, low frequencies
    at the bottom. Taught in notebook 06. ``hop_seconds`` labels the x axis in seconds.

    ``frequencies`` (one number per row, in Hz: each linear bin's frequency, or each mel band's
    centre) labels the y axis in Hz at a few rows; without it the axis counts rows ("frequency bin").
    """
    image = _numpy(spec)
    if image.ndim == 3:
        image = image[0]  # (freq, frames)
    ax = _axes(ax, figsize=(6, 3))
    rows, frames = image.shape
    extent = None
    if hop_seconds is not None:
        extent = (0, frames * hop_seconds, 0, rows)
    shown = ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest", extent=extent)
    ax.set_xlabel("time (s)" if hop_seconds is not None else "frame")
    if frequencies is not None:
        frequencies = _numpy(frequencies).reshape(-1)
        if len(frequencies) != rows:
            raise ValueError(f"frequencies has {len(frequencies)} values for a spectrogram of {rows} rows")
        ticks = np.unique(np.linspace(0, rows - 1, min(rows, 5)).round().astype(int))  # a few rows, both ends
        centre = 0.5 if extent is not None else 0.0  # with an extent, row k spans [k, k + 1)
        ax.set_yticks(ticks + centre, [f"{frequencies[k]:,.0f}" for k in ticks])
    ax.set_ylabel(ylabel if ylabel is not None else "frequency (Hz)" if frequencies is not None else "frequency bin")
    if colorbar:
        ax.figure.colorbar(shown, ax=ax)
    if title:
        ax.set_title(title)
    return ax


def plot_label_counts(counts: dict, ax=None, title: str | None = "clips per word"):
    """A bar per word, in the order of ``counts`` (word -> number of clips). Notebook 01."""
    ax = _axes(ax, figsize=(10, 3))
    words = list(counts)
    ax.bar(range(len(words)), [counts[w] for w in words])
    ax.set_xticks(range(len(words)), words, rotation=90)
    ax.set_xlim(-0.6, len(words) - 0.4)
    ax.set_ylabel("clips")
    if title:
        ax.set_title(title)
    return ax


def plot_length_histogram(
    lengths, sample_rate: int = 16000, ax=None, bins: int = 50, title: str | None = "clip lengths"
):
    """How long the clips are, in samples, with the one-second mark drawn. Notebook 02.

    The counts are on a log scale: most clips are exactly one second, and the few others
    would be invisible beside them otherwise.
    """
    lengths = _numpy(lengths)
    ax = _axes(ax)
    ax.hist(lengths, bins=bins, log=True)
    ax.axvline(sample_rate, color="black", linestyle="--", linewidth=1, label=f"{sample_rate} samples = 1 s")
    ax.set_xlabel("samples")
    ax.set_ylabel("clips (log scale)")
    ax.legend(loc="upper left")
    if title:
        ax.set_title(title)
    return ax


def plot_loss_curve(history, ax=None, smooth: int = 10, title: str | None = "training loss"):
    """The loss of every batch (faint) and its running mean over ``smooth`` batches. Notebook 04.

    ``history`` is what :func:`speechlib.fit` returns (its ``"batch_loss"`` list is used) or a list
    of losses.
    """
    losses = _numpy(history["batch_loss"] if isinstance(history, dict) else history).astype(float)
    ax = _axes(ax)
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, alpha=0.3, label="per batch")
    if smooth > 1 and len(losses) >= smooth:
        running = np.convolve(losses, np.ones(smooth) / smooth, mode="valid")  # mean of each window
        ax.plot(steps[smooth - 1 :], running, label=f"mean of {smooth} batches")
    ax.set_xlabel("batch")
    ax.set_ylabel("loss (nll)")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_history(history, axes=None, title: str | None = None):
    """Loss (left) and accuracy (right) per epoch, training and validation together. Notebook 04.

    ``history`` is what :func:`speechlib.fit` returns: ``"train_loss"`` and ``"train_accuracy"``, and
    ``"val_loss"`` and ``"val_accuracy"`` when it was given a validation loader. The training numbers
    are means over the epoch (the weights changed during it), the validation ones are measured after it.
    ``axes`` is a pair of Axes (loss, accuracy), or None for a new figure; the pair is returned.
    A training curve that keeps improving while the validation curve stalls or turns is overfitting.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3))
    loss_ax, accuracy_ax = axes
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    for ax, key, ylabel in ((loss_ax, "loss", "loss (nll)"), (accuracy_ax, "accuracy", "accuracy")):
        ax.plot(epochs, _numpy(history[f"train_{key}"]), "o-", label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, _numpy(history[f"val_{key}"]), "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_xticks(epochs)
        ax.legend()
    accuracy_ax.set_ylim(0, 1)
    if title:
        loss_ax.figure.suptitle(title)
    return axes


def plot_confusion_matrix(
    matrix, labels: list[str], ax=None, normalize: bool = True, title: str | None = "confusion matrix"
):
    """``matrix[true, predicted]`` as an image: a perfect model lights only the diagonal. Notebooks 05 and 07.

    With ``normalize`` each row is divided by its total, so every word's row reads as shares of
    its clips (words with more clips do not look brighter).
    """
    values = _numpy(matrix).astype(float)
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    ax = _axes(ax, figsize=(8, 7))
    shown = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=90)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="share of the row" if normalize else "clips")
    if title:
        ax.set_title(title)
    return ax
