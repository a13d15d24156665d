"""The shipped model that hears people: a small head on a speech embedding pretrained on real speech.

Taught in notebook 09 (transfer learning) and used by notebook 10 (your own voice), the recorder and
``speechlib predict``. Every voice in ``data/bundled`` is synthetic; Google's ``speech_embedding``
(:mod:`speechlib.embedding`) was trained on a very large amount of real speech. Keeping it frozen and
training only a small head on its embeddings of the synthetic clips gives a model that understands
human voices far better than a network trained from scratch on the same clips (``models/README.md``).

The shipped model (``models/transfer.pt``, made by ``tools/train_transfer.py``) also knows one extra
class, ``_silence_``: silence, noise, tones and other sounds that are not speech. :func:`verdict` turns
its answer into words: "I heard nothing" or "not one of the words".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import paths
from .data import CLIP_SAMPLES, SAMPLE_RATE
from .embedding import EMBEDDING_DIM, SpeechEmbedding, load_speech_embedding


def default_model_path() -> Path:
    """``models/transfer.pt`` of the project: what ``speechlib predict`` and the Recorder use without a model."""
    return paths.models_dir() / "transfer.pt"


def __getattr__(name: str) -> Path:
    """``DEFAULT_MODEL``: looked up when read, so importing this module needs no project (PEP 562)."""
    if name == "DEFAULT_MODEL":
        return default_model_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SILENCE_LABEL = "_silence_"  # the extra class: no speech at all (silence, noise, tones)
UNKNOWN_LABEL = "_unknown_"  # the other extra class: speech that is none of the model's words
HEARD_NOTHING = "I heard nothing"
NOT_A_WORD = "not one of the words"
NON_SPEECH_KINDS = ("silence", "hiss", "noise", "tone", "chirp", "chord", "buzz", "beeps")


class EmbeddingHead(nn.Module):
    """A small classifier over a clip's embeddings ``(batch, windows, 96)`` -> logits ``(batch, num_classes)``.

    Two 1-D convolutions along time (3 windows = 0.24 s of context each), then the largest and the mean
    value of each channel over the clip (so the word may be anywhere in it), then one linear layer.
    """

    def __init__(self, num_classes: int, embedding_dim: int = EMBEDDING_DIM, width: int = 128, dropout: float = 0.3):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(embedding_dim, width, kernel_size=3, padding=1),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(width, width, kernel_size=3, padding=1),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.classifier = nn.Linear(2 * width, num_classes)

    def pooled(self, embeddings: torch.Tensor) -> torch.Tensor:
        """What the last linear layer reads: ``(batch, 2 * width)``, each channel's largest and mean value."""
        features = self.layers(embeddings.transpose(1, 2))  # (batch, width, windows)
        return torch.cat([features.amax(dim=2), features.mean(dim=2)], dim=1)  # (batch, 2 * width)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled(embeddings))  # (batch, num_classes)


class EmbeddingClassifier(nn.Module):
    """Frozen :class:`speechlib.embedding.SpeechEmbedding` + ``num_heads`` heads. Notebook 09.

    Input raw clips ``(batch, 1, 16000)`` like every speechlib model; output log-probabilities
    ``(batch, num_classes)``, the mean of the heads' log-probabilities (heads trained from different
    seeds make different mistakes; their average makes fewer). Each clip gets ``pad_samples`` zeros
    on both sides before the embedding, so a one-second clip gives 9 embeddings (one every 80 ms)
    instead of 3 and a word near an edge still lies whole inside some window.

    ``inner_layer`` and ``num_inner_heads``: more heads, on the output of an inner layer of the embedding
    network (e.g. ``"pool3"``: 192 numbers every 40 ms, see :meth:`SpeechEmbedding.layer_outputs`), computed
    in the same pass. They hear more detail than the embedding and make other mistakes, so they add to the
    average more than further heads on the embedding do (``models/README.md``).

    ``pretrained=True`` loads the converted weights of ``models/speech_embedding.pt``; ``load_model``
    passes ``False`` and then restores everything, embedding included, from the model file.
    Two buffers, saved with the model and set by ``tools/train_transfer.py``: ``log_prior`` (one number per
    class, added to the log-probabilities before renormalising: the shipped model makes ``_silence_`` 2 nats
    less likely, so a quiet or noisy word is not dismissed as silence when the model is unsure) and
    ``reject_below``, the top probability under which :func:`verdict` answers "not one of the words"
    (0 never rejects).
    """

    def __init__(
        self,
        num_classes: int = 36,
        num_heads: int = 5,
        pad_samples: int = 4000,
        width: int = 128,
        dropout: float = 0.3,
        pretrained: bool = True,
        inner_layer: str | None = None,
        num_inner_heads: int = 0,
    ):
        super().__init__()
        self.pad_samples = pad_samples
        self.embedding = load_speech_embedding() if pretrained else SpeechEmbedding()
        self.embedding.requires_grad_(False)  # frozen: only the heads learn
        self.heads = nn.ModuleList(EmbeddingHead(num_classes, width=width, dropout=dropout) for _ in range(num_heads))
        self.inner_layer = inner_layer if num_inner_heads else None
        inner_dim = self.embedding.output_shape(CLIP_SAMPLES, inner_layer)[1] if self.inner_layer else 0
        self.inner_heads = nn.ModuleList(
            EmbeddingHead(num_classes, embedding_dim=inner_dim, width=width, dropout=dropout)
            for _ in range(num_inner_heads)
        )
        self.register_buffer("log_prior", torch.zeros(num_classes))
        self.register_buffer("reject_below", torch.tensor(0.0))

    def embed(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Clips ``(batch, 1, samples)`` -> embeddings ``(batch, windows, 96)`` (9 windows for one second)."""
        return self.embedding(self._pad(waveforms))

    def embed_all(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Clips -> ``(embeddings (batch, windows, 96), inner features (batch, steps, dim) or None)``, one pass."""
        if self.inner_layer is None:
            return self.embed(waveforms), None
        outputs = self.embedding.layer_outputs(self._pad(waveforms), ("output", self.inner_layer))
        return outputs["output"], outputs[self.inner_layer]

    def _pad(self, waveforms: torch.Tensor) -> torch.Tensor:
        return F.pad(waveforms, (self.pad_samples, self.pad_samples))  # (batch, 1, samples + 2 * pad)

    def classify_embeddings(self, embeddings: torch.Tensor, inner: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings ``(batch, windows, 96)`` (and the inner layer's features, if the model has inner heads)
        -> mean log-probabilities of all heads ``(batch, num_classes)``."""
        if self.inner_heads and inner is None:
            raise ValueError(f"this model also has heads on layer {self.inner_layer!r}: pass its features")
        log_probs = [F.log_softmax(head(embeddings), dim=1) for head in self.heads]
        log_probs += [F.log_softmax(head(inner), dim=1) for head in self.inner_heads]
        mean = torch.stack(log_probs).mean(dim=0)  # (batch, C)
        return F.log_softmax(mean + self.log_prior, dim=1)  # (batch, C), sums to 1 again

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.classify_embeddings(*self.embed_all(waveforms))  # (batch, num_classes)


def verdict(guesses: list[tuple[str, float]], reject_below: float = 0.0) -> str | None:
    """What a model's top guesses ``[(word, probability), ...]`` (best first) mean. Notebook 10.

    ``"I heard nothing"`` when the best guess is the ``_silence_`` class, ``"not one of the words"`` when it
    is the ``_unknown_`` class (speech, but none of the words) or when the best probability is below
    ``reject_below`` (the model's own threshold, ``model.reject_below``), else ``None``: the best guess is
    the answer.
    """
    word, probability = guesses[0]
    if word == SILENCE_LABEL:
        return HEARD_NOTHING
    if word == UNKNOWN_LABEL or probability < reject_below:
        return NOT_A_WORD
    return None


def rejected(probabilities: torch.Tensor, labels: list[str], reject_below: float) -> torch.Tensor:
    """``(n,)`` bool: the clips :func:`verdict` would not answer with a word, for class probabilities
    ``(n, classes)`` in the order of ``labels``: ``_silence_`` or ``_unknown_`` is the best guess, or the best
    probability is below ``reject_below``. Used by ``speechlib evaluate``, ``tools/train_transfer.py`` and the
    measuring tools."""
    best = probabilities.argmax(dim=1)
    no_word = [labels.index(label) for label in (SILENCE_LABEL, UNKNOWN_LABEL) if label in labels]
    return torch.isin(best, torch.tensor(no_word, dtype=best.dtype)) | (probabilities.amax(dim=1) < reject_below)


def model_threshold(model: nn.Module) -> float:
    """The model's "not one of the words" threshold: ``model.reject_below``, or 0 for a model without one."""
    threshold = getattr(model, "reject_below", None)
    return float(threshold) if threshold is not None else 0.0


# ---------------------------------------------------------------------------------------------
# Sounds that are not speech: for training the _silence_ class and for measuring rejection
# ---------------------------------------------------------------------------------------------


def _colored_noise(rng: np.random.Generator, num_samples: int) -> np.ndarray:
    """White, pink or brown noise (power falling as 1/f^0, 1/f^1 or 1/f^2), peak 1."""
    exponent = rng.choice([0.0, 1.0, 2.0])
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    frequencies = np.fft.rfftfreq(num_samples, 1 / SAMPLE_RATE)
    frequencies[0] = frequencies[1]  # no division by zero at DC
    noise = np.fft.irfft(spectrum / frequencies ** (exponent / 2), num_samples)
    return noise / (np.abs(noise).max() + 1e-12)


def non_speech_clip(kind: str, rng: np.random.Generator, num_samples: int = CLIP_SAMPLES) -> np.ndarray:
    """One second of a sound that is not speech, of ``kind`` (one of :data:`NON_SPEECH_KINDS`).

    silence: digital zeros; hiss: noise at -90 to -45 dBFS (a quiet room); noise: white, pink or brown
    noise; tone: one sine 80-6000 Hz; chirp: a sweep; chord: 2-4 sines; buzz: a square wave or a
    harmonic series (mains hum); beeps: a tone switched on and off. Loud kinds peak at -40 to -3 dBFS.
    """
    time = np.arange(num_samples) / SAMPLE_RATE
    if kind == "silence":
        return np.zeros(num_samples)
    if kind == "hiss":
        return _colored_noise(rng, num_samples) * 10 ** (rng.uniform(-90, -45) / 20)
    if kind == "noise":
        sound = _colored_noise(rng, num_samples)
    elif kind == "tone":
        sound = np.sin(2 * np.pi * rng.uniform(80, 6000) * time + rng.uniform(0, 2 * np.pi))
    elif kind == "chirp":
        start, end = np.exp(rng.uniform(np.log(80), np.log(6000), 2))
        sound = np.sin(2 * np.pi * np.cumsum(np.geomspace(start, end, num_samples)) / SAMPLE_RATE)
    elif kind == "chord":
        sound = sum(
            np.sin(2 * np.pi * rng.uniform(100, 3000) * time + rng.uniform(0, 2 * np.pi))
            for _ in range(rng.integers(2, 5))
        )
    elif kind == "buzz":
        pitch = rng.uniform(40, 400)
        if rng.random() < 0.5:
            sound = np.sign(np.sin(2 * np.pi * pitch * time))
        else:
            sound = sum(np.sin(2 * np.pi * pitch * k * time) / k for k in range(1, 12))
    elif kind == "beeps":
        period = rng.uniform(0.1, 0.5)
        gate = (time % period) < period * rng.uniform(0.2, 0.7)
        sound = np.sin(2 * np.pi * rng.uniform(300, 4000) * time) * gate
    else:
        raise ValueError(f"unknown kind {kind!r}: choose one of {', '.join(NON_SPEECH_KINDS)}")
    return sound / (np.abs(sound).max() + 1e-12) * 10 ** (rng.uniform(-40, -3) / 20)


def non_speech_clips(clips_per_kind: int, seed: int, kinds=NON_SPEECH_KINDS) -> tuple[torch.Tensor, list[str]]:
    """``clips_per_kind`` clips of every kind: ``(waveforms (n, 1, 16000) float32, kinds (n,))``, reproducible."""
    rng = np.random.default_rng(seed)
    sounds, names = [], []
    for kind in kinds:
        for _ in range(clips_per_kind):
            sounds.append(non_speech_clip(kind, rng))
            names.append(kind)
    return torch.from_numpy(np.stack(sounds).astype(np.float32)).unsqueeze(1), names
