"""A speech embedding pretrained on real speech, in PyTorch. Taught in notebook 09 (transfer learning).

Google's ``speech_embedding`` (Lin et al. 2020, "Training keyword spotters with limited and synthesized
speech data", arXiv:2002.01322) was trained on a very large amount of real speech. openWakeWord ships it as
two ONNX files; this module rebuilds both as ordinary ``nn.Module``s:

* :class:`MelFrontEnd`: raw 16 kHz audio -> log-mel frames ``(batch, frames, 32)``, one frame every 10 ms.
  Rebuilt from its definition with torchaudio (no constants copied): 25 ms periodic Hann windows (400
  samples) zero-padded to a 512-point DFT, power spectrum, 32 Slaney mel bands from 60 to 3800 Hz, decibels
  floored 80 dB below the clip's loudest value, then openWakeWord's fixed ``x / 10 + 2``.
* :class:`EmbeddingNet`: 76 log-mel frames (0.775 s) -> one 96-number embedding, 20 small convolutions.
  Its learned weights are converted once from the ONNX file by ``tools/convert_speech_embedding.py`` and
  stored in ``models/speech_embedding.pt`` (provenance and licence: ``models/NOTICE_speech_embedding.md``).
* :class:`SpeechEmbedding`: the two together, waveforms ``(batch, 1, samples)`` -> embeddings
  ``(batch, windows, 96)``, one per 76-frame window every 8 frames (80 ms), as openWakeWord computes them.

    >>> embedder = load_speech_embedding()                     # doctest: +SKIP
    >>> embedder(torch.zeros(4, 1, 16000)).shape               # one second -> 3 windows
    torch.Size([4, 3, 96])
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import torch
import torchaudio
from torch import nn
from torch.nn import functional as F

from .data import REPO_DIR, SAMPLE_RATE

WEIGHTS_PATH = REPO_DIR / "models" / "speech_embedding.pt"
N_MELS = 32  # mel bands per frame
WINDOW_FRAMES = 76  # log-mel frames the embedding network looks at: 0.775 s
HOP_FRAMES = 8  # openWakeWord's step between windows (80 ms); also the network's own time stride
EMBEDDING_DIM = 96
INT16_SCALE = 32768.0  # the front end expects 16-bit sample values, not [-1, 1]


class MelFrontEnd(nn.Module):
    """Raw audio -> the log-mel frames the embedding network was trained on. Notebook 09.

    Input ``(batch, 1, samples)`` at 16 kHz in [-1, 1] (what :func:`speechlib.read_clip` returns);
    output ``(batch, frames, 32)`` with ``frames = (samples - 512) // 160 + 1`` (97 for one second).
    Every setting is the one found in openWakeWord's ``melspectrogram.onnx`` (and checked against it by
    ``tools/convert_speech_embedding.py``): no padding at the edges (``center=False``), power 2, Slaney
    mel scale and area normalisation, ``10 * log10(max(power, 1e-10))``, floored at the clip's maximum
    minus 80 dB. openWakeWord then applies ``x / 10 + 2`` in Python ("closer to the native TensorFlow
    implementation", its ``AudioFeatures._get_melspectrogram``); it is part of the definition here.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        super().__init__()
        self.mel_spectrogram = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=512,  # DFT size: 257 frequency bins
            win_length=400,  # 25 ms Hann window, centred inside the 512 samples
            hop_length=160,  # one frame every 10 ms
            f_min=60.0,
            f_max=3800.0,
            n_mels=N_MELS,
            power=2.0,
            center=False,  # the first frame starts at sample 0
            norm="slaney",
            mel_scale="slaney",
        )
        # top_db works per clip here: its input below is (batch, 1, n_mels, frames)
        self.to_decibels = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if waveforms.dim() != 3 or waveforms.shape[1] != 1:
            raise ValueError(f"expected waveforms of shape (batch, 1, samples), got {tuple(waveforms.shape)}")
        power = self.mel_spectrogram(waveforms * INT16_SCALE)  # (batch, 1, 32, frames)
        decibels = self.to_decibels(power)  # (batch, 1, 32, frames)
        log_mel = decibels / 10 + 2  # openWakeWord's fixed rescaling: roughly 2..11 for speech
        return log_mel.squeeze(1).transpose(1, 2)  # (batch, frames, 32)


class ClippedLeakyReLU(nn.Module):
    """``max(leaky_relu(x, 0.2), -0.4)``: the activation after every convolution but the last."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(F.leaky_relu(x, negative_slope=0.2), min=-0.4)


# (name, in channels, out channels, kernel (time, mel)); "pool" halves the sizes given (time, mel).
# Batch normalisation was folded into each convolution's weights and bias when the model was exported.
_LAYERS = (
    ("conv0", 1, 24, (3, 3)),
    ("conv1", 24, 24, (1, 3)),
    ("conv2", 24, 24, (3, 1)),
    ("pool0", (2, 2)),
    ("conv3", 24, 48, (1, 3)),
    ("conv4", 48, 48, (3, 1)),
    ("conv5", 48, 48, (1, 3)),
    ("conv6", 48, 48, (3, 1)),
    ("pool1", (1, 2)),
    ("conv7", 48, 72, (1, 3)),
    ("conv8", 72, 72, (3, 1)),
    ("conv9", 72, 72, (1, 3)),
    ("conv10", 72, 72, (3, 1)),
    ("pool2", (2, 2)),
    ("conv11", 72, 96, (1, 3)),
    ("conv12", 96, 96, (3, 1)),
    ("conv13", 96, 96, (1, 3)),
    ("conv14", 96, 96, (3, 1)),
    ("pool3", (1, 2)),
    ("conv15", 96, 96, (1, 3)),
    ("conv16", 96, 96, (3, 1)),
    ("conv17", 96, 96, (1, 3)),
    ("conv18", 96, 96, (3, 1)),
    ("pool4", (2, 2)),
)


class EmbeddingNet(nn.Module):
    """The embedding network: 76 log-mel frames x 32 bands -> one 96-number embedding. Notebook 09.

    Shapes (time x mel) for one window: 76x32 -> conv0-2 74x32, 72x32 -> pool0 36x16 -> conv3-6 32x16
    -> pool1 32x8 -> conv7-10 28x8 -> pool2 14x4 -> conv11-14 10x4 -> pool3 10x2 -> conv15-18 6x2
    -> pool4 3x1 -> output (3x1 convolution, no bias, no activation) 1x1 x 96 channels.
    Time kernels are unpadded; mel kernels are padded to keep the width. ``convN`` is the exported
    ``model/conv2d_N`` (``conv0`` is ``model/conv2d``), ``output`` is ``model/conv2d_19``.

    Input ``(batch, frames, 32)`` with ``frames >= 76``; output ``(batch, windows, 96)``. A convolutional
    network slides along time by itself: on a longer input it returns the embedding of every 76-frame
    window, one every 8 frames (its time stride, 2 x 2 x 2 from pool0, pool2, pool4), in one pass, exactly
    as if each window had been cut out and embedded alone, without computing the overlaps 9 times.
    """

    def __init__(self):
        super().__init__()
        layers = OrderedDict()
        for name, *spec in _LAYERS:
            if name.startswith("pool"):
                layers[name] = nn.MaxPool2d(kernel_size=spec[0])
            else:
                in_channels, out_channels, kernel = spec
                padding = (0, 1) if kernel[1] == 3 else (0, 0)  # pad the mel axis only
                layers[name] = nn.Conv2d(in_channels, out_channels, kernel, padding=padding)
                layers[f"act{name[4:]}"] = ClippedLeakyReLU()
        layers["output"] = nn.Conv2d(96, EMBEDDING_DIM, (3, 1), bias=False)
        self.layers = nn.Sequential(layers)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        if log_mel.dim() != 3 or log_mel.shape[2] != N_MELS or log_mel.shape[1] < WINDOW_FRAMES:
            raise ValueError(
                f"expected log-mel frames of shape (batch, frames >= {WINDOW_FRAMES}, {N_MELS}), "
                f"got {tuple(log_mel.shape)}"
            )
        features = self.layers(log_mel.unsqueeze(1))  # (batch, 96, windows, 1)
        return features.squeeze(3).transpose(1, 2)  # (batch, windows, 96)


class SpeechEmbedding(nn.Module):
    """Waveforms ``(batch, 1, samples)`` at 16 kHz in [-1, 1] -> embeddings ``(batch, windows, 96)``. Notebook 09.

    ``front_end`` (:class:`MelFrontEnd`) then ``network`` (:class:`EmbeddingNet`) on every window of
    ``window_frames`` = 76 log-mel frames, one window every ``hop_frames`` frames (openWakeWord: 8, i.e.
    80 ms); windows that would run past the end are dropped, as openWakeWord does. A one-second clip
    (97 frames) gives 3 windows with the default hop. ``hop_frames=8`` runs the network once over the
    whole clip (see :class:`EmbeddingNet`); any other hop cuts the windows out and embeds them as a batch.
    Needs at least 12,512 samples (76 frames).
    """

    def __init__(self, hop_frames: int = HOP_FRAMES):
        super().__init__()
        if hop_frames < 1:
            raise ValueError(f"hop_frames must be at least 1, got {hop_frames}")
        self.hop_frames = hop_frames
        self.front_end = MelFrontEnd()
        self.network = EmbeddingNet()

    def extra_repr(self) -> str:
        return f"window_frames={WINDOW_FRAMES}, hop_frames={self.hop_frames}"

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        log_mel = self.front_end(waveforms)  # (batch, frames, 32)
        if log_mel.shape[1] < WINDOW_FRAMES:
            raise ValueError(
                f"{waveforms.shape[-1]} samples give {log_mel.shape[1]} log-mel frames; the embedding needs "
                f"at least {WINDOW_FRAMES} (12,512 samples, 0.78 s at 16 kHz)"
            )
        if self.hop_frames == HOP_FRAMES:
            return self.network(log_mel)  # (batch, windows, 96): the network's own stride is the hop
        windows = log_mel.unfold(1, WINDOW_FRAMES, self.hop_frames)  # (batch, windows, 32, 76)
        batch, num_windows = windows.shape[:2]
        windows = windows.transpose(2, 3).reshape(batch * num_windows, WINDOW_FRAMES, N_MELS)
        embeddings = self.network(windows)  # (batch * windows, 1, 96)
        return embeddings.reshape(batch, num_windows, EMBEDDING_DIM)

    def num_windows(self, num_samples: int) -> int:
        """How many embeddings a clip of ``num_samples`` samples gets (3 for 16,000)."""
        frames = (num_samples - 512) // 160 + 1
        return max(0, (frames - WINDOW_FRAMES) // self.hop_frames + 1)


def load_speech_embedding(
    path: str | os.PathLike | None = None, device: str | torch.device = "cpu", hop_frames: int = HOP_FRAMES
) -> SpeechEmbedding:
    """The pretrained :class:`SpeechEmbedding`, in eval mode on ``device``. Notebook 09.

    Reads the converted weights of the embedding network from ``path`` (default
    ``models/speech_embedding.pt``); the front end has no learned weights. A missing or damaged file
    raises an error naming it.
    """
    path = Path(WEIGHTS_PATH if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: speech embedding weights not found (made by `python tools/convert_speech_embedding.py`)"
        )
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a truncated or foreign file
        raise ValueError(f"{path}: not a readable speech embedding file ({error})") from error
    model = SpeechEmbedding(hop_frames=hop_frames)
    try:
        model.network.load_state_dict(state_dict)
    except (RuntimeError, TypeError, AttributeError) as error:  # wrong keys or shapes, or not a dict
        raise ValueError(f"{path}: not the weights of speechlib's EmbeddingNet ({error})") from error
    return model.to(device).eval()


def weights_fingerprint(model: nn.Module) -> str:
    """A short hash of every parameter and buffer of ``model``: changes whenever any weight changes."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
