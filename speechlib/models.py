"""The models of the series. Every model takes raw clips ``(batch, 1, 16000)`` and returns
log-probabilities ``(batch, num_classes)``, so one train/evaluate loop serves them all.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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


class LogMel(nn.Module):
    """Clips ``(batch, 1, 16000)`` -> normalised log-mel images ``(batch, 1, n_mels, frames)``. Notebook 06.

    Computed per batch inside the model, on the model's device: no feature files to keep in sync.
    40 ms windows every 20 ms (51 frames a second, as in "Hello Edge", Zhang et al. 2017): half the
    frames of the common 10 ms hop, so half the work for the CNN, with little lost for one-second words.
    With ``normalize`` (the default) each clip is scaled to zero mean and unit variance, so loudness
    differences between recordings (and between synthetic and real voices) matter less.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 640,
        hop_length: int = 320,
        n_mels: int = 40,
        normalize: bool = True,
    ):
        super().__init__()
        import torchaudio.transforms as T  # torchaudio is needed for spectrogram models only

        self.melspec = T.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        self.to_db = T.AmplitudeToDB(top_db=80)
        self.normalize = normalize

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        mel = self.to_db(self.melspec(waveforms))  # (batch, 1, n_mels, frames)
        if not self.normalize:
            return mel
        mean = mel.mean(dim=(2, 3), keepdim=True)
        std = mel.std(dim=(2, 3), keepdim=True)
        return (mel - mean) / (std + 1e-5)


def conv_block(in_channels: int, out_channels: int, stride: int = 2) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU. Stride 2 halves height and width: 4x less work for
    the next block than a full-size convolution followed by pooling."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class CNN(nn.Module):
    """A small CNN on log-mel spectrograms treated as images. Taught in notebook 07.

    Convolutions look at small time-frequency patches wherever they are, so a word shifted by a
    few milliseconds still looks the same to them, where SimpleNet sees entirely new numbers.
    With ``spec_augment`` (the default) random mel bands and frames are masked while training
    (:class:`speechlib.augment.SpecAugment`); in eval mode nothing is masked.
    """

    def __init__(
        self,
        num_classes: int = 35,
        n_mels: int = 40,
        channels: tuple[int, ...] = (16, 32, 64, 64),
        spec_augment: bool = True,
        normalize: bool = True,
    ):
        super().__init__()
        from .augment import SpecAugment  # augment needs torchaudio, like LogMel

        self.features = LogMel(n_mels=n_mels, normalize=normalize)
        self.spec_augment = SpecAugment() if spec_augment else nn.Identity()
        blocks, in_channels = [], 1
        for i, out_channels in enumerate(channels):
            stride = 2 if i < len(channels) - 1 else 1  # the last block keeps the 5 x 7 grid it gets
            blocks.append(conv_block(in_channels, out_channels, stride))
            in_channels = out_channels
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(in_channels, num_classes)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        x = self.features(waveforms)  # (batch, 1, 40, 51)
        x = self.spec_augment(x)  # (batch, 1, 40, 51), masked in training mode only
        x = self.body(x)  # (batch, 64, 5, 7)
        x = x.mean(dim=(2, 3))  # (batch, 64): average over what is left of time and frequency
        logits = self.head(x)  # (batch, num_classes)
        return F.log_softmax(logits, dim=1)


class M5(nn.Module):
    """M5 (Dai et al. 2017), a 1-D CNN on raw samples, as PyTorch's speech-command tutorial trained it. Notebook 07.

    The same input as SimpleNet, ``(batch, 1, 16000)``, but read by detectors shared across positions: a first
    convolution 80 samples wide every 16 samples (5 ms windows every 1 ms at 16 kHz; the tutorial resampled to
    8 kHz first, where the same layer sees 10 ms every 2 ms) with 32 channels, batch norm, ReLU and max-pooling
    by 4; then three blocks of a 3-wide convolution (32, 64, 64 channels), batch norm, ReLU, max-pooling by 4;
    an average over what is left of time and one linear layer: 26,915 parameters for 35 words, as in the tutorial.
    """

    def __init__(self, num_classes: int = 35, channels: int = 32, stride: int = 16):
        super().__init__()
        widths = (channels, channels, 2 * channels, 2 * channels)
        kernels = (80, 3, 3, 3)
        blocks, in_channels = [], 1
        for i, (out_channels, kernel) in enumerate(zip(widths, kernels)):
            blocks.append(
                nn.Sequential(
                    nn.Conv1d(in_channels, out_channels, kernel_size=kernel, stride=stride if i == 0 else 1),
                    nn.BatchNorm1d(out_channels),
                    nn.ReLU(),
                    nn.MaxPool1d(4),
                )
            )
            in_channels = out_channels
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(in_channels, num_classes)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        x = self.body(waveforms)  # (batch, 1, 16000) -> (batch, 64, 3): 249, 61, 14, then 3 steps after the blocks
        x = x.mean(dim=2)  # (batch, 64): average over time, so where the word is matters little
        logits = self.head(x)  # (batch, num_classes)
        return F.log_softmax(logits, dim=1)


MODELS = {"simplenet": SimpleNet, "cnn": CNN, "m5": M5}


# what a transfer model's shape depends on
TRANSFER_SHAPE_SETTINGS = ("num_heads", "width", "dropout", "pad_samples", "inner_layer", "num_inner_heads")


def build_model(name: str, num_classes: int = 35, settings: dict | None = None) -> nn.Module:
    """A fresh model by name (``"simplenet"``, ``"cnn"``, ``"m5"``), as the CLI and saved checkpoints name them.

    ``settings``: a saved model's training settings; a ``"transfer"`` model takes its number of heads, their
    width and dropout, its padding and its heads on an inner layer from them (the defaults of
    :class:`speechlib.EmbeddingClassifier` otherwise).
    """
    if name == "transfer":  # the shipped transfer model (notebook 09), made by tools/train_transfer.py
        from .transfer import EmbeddingClassifier

        settings = settings or {}
        shape = {key: settings[key] for key in TRANSFER_SHAPE_SETTINGS if key in settings}
        return EmbeddingClassifier(num_classes=num_classes, pretrained=False, **shape)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name](num_classes=num_classes)
