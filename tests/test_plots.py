"""The plot helpers draw what they are given, into a new figure or a given Axes, and return the Axes."""

import matplotlib

matplotlib.use("Agg")  # no display needed

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from speechlib import (
    plot_confusion_matrix,
    plot_history,
    plot_label_counts,
    plot_length_histogram,
    plot_loss_curve,
    plot_spectrogram,
    plot_waveform,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_waveform_puts_samples_against_seconds():
    waveform = torch.linspace(-1, 1, 8000).unsqueeze(0)  # (1, 8000): half a second at 16 kHz
    ax = plot_waveform(waveform, 16000, title="ramp")
    line = ax.lines[0]
    assert np.allclose(line.get_ydata(), waveform[0].numpy())
    assert line.get_xdata()[-1] == pytest.approx(7999 / 16000)
    assert ax.get_title() == "ramp" and ax.get_xlabel() == "time (s)"


def test_helpers_draw_into_a_given_axes():
    fig, axes = plt.subplots(1, 3)
    assert plot_waveform(np.zeros(100), 100, ax=axes[0]) is axes[0]
    assert plot_loss_curve([3.0, 2.0, 1.0], ax=axes[1]) is axes[1]
    assert plot_label_counts({"yes": 3}, ax=axes[2]) is axes[2]
    assert len(fig.axes) == 3  # nothing drawn elsewhere


def test_plot_label_counts_bars_follow_the_dict_order():
    ax = plot_label_counts({"yes": 5, "no": 2, "up": 7})
    assert [bar.get_height() for bar in ax.patches] == [5, 2, 7]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["yes", "no", "up"]


def test_plot_loss_curve_shows_the_running_mean():
    history = {"batch_loss": [4.0, 2.0, 0.0, 2.0, 4.0]}
    ax = plot_loss_curve(history, smooth=2)
    raw, running = ax.lines
    assert list(raw.get_ydata()) == history["batch_loss"]
    assert list(running.get_ydata()) == [3.0, 1.0, 1.0, 3.0]
    assert list(running.get_xdata()) == [2, 3, 4, 5]  # each mean drawn at its window's last batch


def test_plot_confusion_matrix_normalises_rows_and_labels_axes():
    matrix = torch.tensor([[3, 1], [0, 0]])  # the second word has no clips: its row stays 0
    ax = plot_confusion_matrix(matrix, ["no", "yes"])
    assert np.allclose(ax.images[0].get_array(), [[0.75, 0.25], [0.0, 0.0]])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["no", "yes"]
    ax = plot_confusion_matrix(matrix, ["no", "yes"], normalize=False)
    assert np.array_equal(ax.images[0].get_array(), [[3, 1], [0, 0]])


def test_plot_spectrogram_puts_low_frequencies_at_the_bottom():
    spec = torch.arange(12.0).reshape(1, 3, 4)  # (1, freq, frames)
    ax = plot_spectrogram(spec, hop_seconds=0.01)
    image = ax.images[0]
    assert image.get_array().shape == (3, 4) and image.origin == "lower"
    assert image.get_extent()[1] == pytest.approx(0.04)


def test_plot_spectrogram_labels_rows_in_hz_when_given_their_frequencies():
    spec = torch.zeros(241, 10)  # (freq, frames): a 480-point STFT at 16 kHz
    ax = plot_spectrogram(spec, hop_seconds=0.01, frequencies=np.linspace(0, 8000, 241))
    assert ax.get_ylabel() == "frequency (Hz)"
    assert [label.get_text() for label in ax.get_yticklabels()] == ["0", "2,000", "4,000", "6,000", "8,000"]
    assert np.allclose(ax.get_yticks(), [0.5, 60.5, 120.5, 180.5, 240.5])  # the centres of rows 0, 60, ..., 240
    assert plot_spectrogram(spec).get_ylabel() == "frequency bin"  # rows counted without frequencies
    with pytest.raises(ValueError, match="241 rows"):
        plot_spectrogram(spec, frequencies=[0.0, 1.0])


def test_plot_length_histogram_counts_every_clip():
    lengths = np.array([16000] * 7 + [12000, 8000])
    ax = plot_length_histogram(lengths, 16000, bins=4)
    assert sum(bar.get_height() for bar in ax.patches) == len(lengths)
    assert ax.lines[0].get_xdata()[0] == 16000  # the one-second mark


def test_plot_history_draws_training_and_validation_per_epoch():
    history = {
        "train_loss": [3.0, 2.0, 1.0],
        "train_accuracy": [0.1, 0.5, 0.9],
        "val_loss": [3.1, 2.9, 3.2],
        "val_accuracy": [0.05, 0.1, 0.08],
    }
    fig, axes = plt.subplots(1, 2)
    loss_ax, accuracy_ax = plot_history(history, axes=axes)
    assert (loss_ax, accuracy_ax) == tuple(axes) and len(fig.axes) == 2
    assert [list(line.get_ydata()) for line in loss_ax.lines] == [history["train_loss"], history["val_loss"]]
    assert [list(line.get_ydata()) for line in accuracy_ax.lines] == [
        history["train_accuracy"],
        history["val_accuracy"],
    ]
    assert list(loss_ax.lines[0].get_xdata()) == [1, 2, 3]  # epochs count from 1
    assert [t.get_text() for t in accuracy_ax.get_legend().get_texts()] == ["training", "validation"]


def test_plot_history_without_validation_draws_training_only():
    loss_ax, accuracy_ax = plot_history({"train_loss": [2.0, 1.0], "train_accuracy": [0.3, 0.6]})
    assert len(loss_ax.lines) == 1 and len(accuracy_ax.lines) == 1
    assert loss_ax.figure is accuracy_ax.figure  # one new figure with both panels
