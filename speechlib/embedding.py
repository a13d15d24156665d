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

:func:`embedding_cache` embeds every clip of a dataset once and keeps the result on disk: the expensive part
of transfer learning, done once; a head is then trained on the cached embeddings in seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torchaudio
from torch import nn
from torch.nn import functional as F

from . import paths
from .data import SAMPLE_RATE
from .files import write_marker


def weights_path() -> Path:
    """``models/speech_embedding.pt`` of the project (found by :mod:`speechlib.paths`)."""
    return paths.models_dir() / "speech_embedding.pt"


def __getattr__(name: str) -> Path:
    """``WEIGHTS_PATH``: looked up when read, so importing this module needs no project (PEP 562)."""
    if name == "WEIGHTS_PATH":
        return weights_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    """``max(leaky_relu(x, 0.2), -0.4)``: the activation after every convolution but the last. Notebook 09."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:  # training or fine-tuning: autograd needs the intermediate result
            return torch.clamp(F.leaky_relu(x, negative_slope=0.2), min=-0.4)
        return F.leaky_relu(x, negative_slope=0.2, inplace=True).clamp_(min=-0.4)  # no copies: ~25% faster


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
        # channels-last ("NHWC", the layout the network was trained in) runs faster on the CPU
        self.to(memory_format=torch.channels_last)

    def forward(self, log_mel: torch.Tensor, layer: str = "output") -> torch.Tensor:
        """The embeddings ``(batch, windows, 96)``, or what an inner ``layer`` gives (see :meth:`layer_outputs`)."""
        return self.layer_outputs(log_mel, (layer,))[layer]

    def layer_outputs(self, log_mel: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The outputs of the layers ``names``, in one pass that stops after the last of them. Notebook 09.

        ``"output"`` is the embedding ``(batch, windows, 96)``; an inner layer (``"pool0"`` to ``"pool4"`` or an
        activation ``"act0"`` to ``"act18"``) gives ``(batch, steps, channels x mel bands)``, its feature map
        flattened at every time step, e.g. ``"pool3"``: 192 numbers (96 channels x 2 bands) every 40 ms. Inner
        layers see more detail of the sound than the embedding: less of it is about which word was said.
        """
        for name in names:
            self.output_shape(WINDOW_FRAMES, name)  # a clear error for a name that is not a layer's
        if log_mel.dim() != 3 or log_mel.shape[2] != N_MELS or log_mel.shape[1] < WINDOW_FRAMES:
            raise ValueError(
                f"expected log-mel frames of shape (batch, frames >= {WINDOW_FRAMES}, {N_MELS}), "
                f"got {tuple(log_mel.shape)}"
            )
        x = log_mel.unsqueeze(1).contiguous(memory_format=torch.channels_last)  # (batch, 1, frames, 32)
        outputs = {}
        for name, layer in self.layers.named_children():
            x = layer(x)  # (batch, channels, steps, mel bands)
            if name in names:
                outputs[name] = x.permute(0, 2, 1, 3).flatten(2)  # (batch, steps, channels * mel bands)
                if len(outputs) == len(names):
                    break
        return outputs

    @staticmethod
    def output_shape(num_frames: int, layer: str = "output") -> tuple[int, int]:
        """``(steps, features)`` that ``layer`` gives for ``num_frames`` log-mel frames, worked out from the layer
        table (no pass through the network): time kernels shorten, pools halve, ``features = channels x mel bands``."""
        steps, mel_bands = num_frames, N_MELS
        for name, *spec in (*_LAYERS, ("output", 96, EMBEDDING_DIM, (3, 1))):
            if name.startswith("pool"):
                steps, mel_bands = steps // spec[0][0], mel_bands // spec[0][1]
            else:
                channels, steps = spec[1], steps - spec[2][0] + 1  # mel kernels are padded: the bands stay
            # a convolution's output is overwritten by its in-place activation: ask for the activation
            if layer == (f"act{name[4:]}" if name.startswith("conv") else name):
                return steps, channels * mel_bands
        raise ValueError(f"unknown layer {layer!r}: choose output, pool0-pool4 or act0-act18")


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

    def forward(self, waveforms: torch.Tensor, layer: str = "output") -> torch.Tensor:
        """Embeddings ``(batch, windows, 96)``, or the output of an inner ``layer`` (see :meth:`layer_outputs`)."""
        return self.layer_outputs(waveforms, (layer,))[layer]

    def layer_outputs(self, waveforms: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The outputs of several layers of :class:`EmbeddingNet` (``"output"``: the embeddings) in one pass.
        Inner layers need the network's own hop (``hop_frames=8``): they have no windows of their own."""
        log_mel = self.front_end(waveforms)  # (batch, frames, 32)
        if log_mel.shape[1] < WINDOW_FRAMES:
            raise ValueError(
                f"{waveforms.shape[-1]} samples give {log_mel.shape[1]} log-mel frames; the embedding needs "
                f"at least {WINDOW_FRAMES} (12,512 samples, 0.78 s at 16 kHz)"
            )
        if self.hop_frames == HOP_FRAMES:
            return self.network.layer_outputs(log_mel, names)  # the network's own stride is the hop
        if tuple(names) != ("output",):
            raise ValueError(f"inner layers need hop_frames={HOP_FRAMES}, not {self.hop_frames}")
        windows = log_mel.unfold(1, WINDOW_FRAMES, self.hop_frames)  # (batch, windows, 32, 76)
        batch, num_windows = windows.shape[:2]
        windows = windows.transpose(2, 3).reshape(batch * num_windows, WINDOW_FRAMES, N_MELS)
        embeddings = self.network(windows)  # (batch * windows, 1, 96)
        return {"output": embeddings.reshape(batch, num_windows, EMBEDDING_DIM)}

    def num_windows(self, num_samples: int) -> int:
        """How many embeddings a clip of ``num_samples`` samples gets (3 for 16,000)."""
        frames = (num_samples - 512) // 160 + 1
        return max(0, (frames - WINDOW_FRAMES) // self.hop_frames + 1)

    def output_shape(self, num_samples: int, layer: str = "output") -> tuple[int, int]:
        """``(steps, features)`` that ``layer`` gives for a clip of ``num_samples`` samples: ``(3, 96)`` for one second."""
        if layer == "output":
            return self.num_windows(num_samples), EMBEDDING_DIM
        return EmbeddingNet.output_shape((num_samples - 512) // 160 + 1, layer)


def load_speech_embedding(
    path: str | os.PathLike | None = None, device: str | torch.device = "cpu", hop_frames: int = HOP_FRAMES
) -> SpeechEmbedding:
    """The pretrained :class:`SpeechEmbedding`, in eval mode on ``device``. Notebook 09.

    Reads the converted weights of the embedding network from ``path`` (default
    ``models/speech_embedding.pt``); the front end has no learned weights. A missing or damaged file
    raises an error naming it.
    """
    path = Path(weights_path() if path is None else path)
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
    """A short hash of every parameter and buffer of ``model``: changes whenever any weight changes (so a
    fine-tuned network gets its own :func:`embedding_cache`)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# The embedding cache: every clip embedded once, kept on disk (notebook 09)
# ---------------------------------------------------------------------------------------------

EMBEDDING_CACHE_FORMAT = 1  # bump when the layout below changes
EMBEDDING_MARKER = "embeddings.json"


class ClipEmbeddings:
    """The embeddings of every clip of a :class:`speechlib.ClipCache`, in its order. Notebook 09.

    ``embeddings`` is a float32 tensor ``(clips, windows, 96)``, or ``(clips, steps, features)`` for an inner
    layer (``settings["layer"]``); ``targets``, ``subsets``, ``speakers``, ``files`` and ``labels`` are the clip
    cache's (``clips``). ``settings`` records how they were made.
    """

    def __init__(self, directory: Path, clips, settings: dict):
        self.directory, self.clips, self.settings = Path(directory), clips, settings
        self.embeddings = torch.from_numpy(np.load(self.directory / "embeddings.npy"))  # (clips, windows, 96)
        self.targets = torch.from_numpy(np.asarray(clips.targets, dtype=np.int64))  # (clips,)
        self.labels, self.speakers, self.files, self.subsets = clips.labels, clips.speakers, clips.files, clips.subsets

    def __len__(self) -> int:
        return len(self.embeddings)

    def __repr__(self) -> str:
        return (
            f"ClipEmbeddings(clips={len(self)}, windows={self.embeddings.shape[1]}, dim={self.embeddings.shape[2]}, "
            f"directory={str(self.directory)!r})"
        )

    def indices(self, subset: str | None = None) -> np.ndarray:
        """Row numbers of the clips in ``subset`` ("training", "validation", "testing", or None for all)."""
        return self.clips.indices(subset)

    def subset(self, subset: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embeddings (n, windows, 96), targets (n,))`` of one subset, e.g. for a ``TensorDataset``."""
        rows = torch.from_numpy(self.indices(subset))
        return self.embeddings[rows], self.targets[rows]


def embedding_cache(
    clips=None,
    embedder: SpeechEmbedding | None = None,
    pad_samples: int = 0,
    batch_size: int = 64,
    progress: bool = True,
    verbose: bool = True,
    layer: str = "output",
) -> ClipEmbeddings:
    """The embeddings of every clip, computed once and kept on disk; later calls just load them. Notebook 09.

    ``clips`` is a :class:`speechlib.ClipCache` or anything :func:`speechlib.load_cache` accepts (a folder,
    a :class:`speechlib.SpeechCommands`, or ``None`` for the default dataset). ``embedder`` (default:
    :func:`load_speech_embedding` on :func:`speechlib.pick_device`'s device) runs where its weights are. Each clip (as the clip cache holds it: ``num_samples`` long, padded or
    trimmed at the end) gets ``pad_samples`` zeros before and after it, then goes through ``embedder``.
    ``layer`` caches the output of an inner layer of the network instead of the embeddings (for example
    ``"pool3"``, see :meth:`SpeechEmbedding.layer_outputs`).

    The cache lives beside the clip cache, in ``embeddings/<key>``, where the key hashes the clip cache's
    fingerprint (the data), :func:`weights_fingerprint` of ``embedder`` (a fine-tuned network gets its own
    cache), its ``hop_frames``, ``pad_samples``, ``num_samples`` and ``layer``. It is written to a temporary
    folder and renamed into place, a marker last, so a crash never leaves a cache that a later call trusts. Caches of
    the same tree made with the same settings from older data are deleted once the new one is complete.
    Returns a :class:`ClipEmbeddings`.
    """
    from .cache import ClipCache, cache_home, load_cache  # lazily: the cache module imports more
    from .device import pick_device

    if not isinstance(clips, ClipCache):
        clips = load_cache(clips, progress=progress, verbose=verbose)
    if pad_samples < 0:
        raise ValueError(f"pad_samples must be 0 or more, got {pad_samples}")
    embedder = load_speech_embedding(device=pick_device()) if embedder is None else embedder
    settings = {
        "format": EMBEDDING_CACHE_FORMAT,
        "clips": clips.fingerprint,
        "weights": weights_fingerprint(embedder),
        "hop_frames": embedder.hop_frames,
        "num_samples": clips.num_samples,
        "pad_samples": pad_samples,
        "layer": layer,
    }
    shape = (len(clips), *embedder.output_shape(clips.num_samples + 2 * pad_samples, layer))  # (clips, steps, dim)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    directory = cache_home(clips.root) / "embeddings" / key
    if not _embeddings_complete(directory, settings, shape):
        if directory.exists():  # half-written or damaged: never trusted, rebuilt
            shutil.rmtree(directory)
        _build_embeddings(clips, embedder, pad_samples, batch_size, progress, directory, settings, shape)
        _remove_superseded_embeddings(directory, clips.root, settings)
    return ClipEmbeddings(directory, clips, settings)


def _embeddings_complete(directory: Path, settings: dict, shape: tuple[int, ...]) -> bool:
    """Trust a cache only if its marker has exactly these settings and the array the expected shape."""
    try:
        with open(directory / EMBEDDING_MARKER) as f:
            marker = json.load(f)
        embeddings = np.load(directory / "embeddings.npy", mmap_mode="r")
    except (OSError, ValueError):
        return False
    return marker.get("settings") == settings and embeddings.shape == shape and embeddings.dtype == np.float32


@torch.inference_mode()
def _build_embeddings(clips, embedder, pad_samples, batch_size, progress, directory, settings, shape) -> None:
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from .cache import CachedClips  # lazily, as in embedding_cache

    directory.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".building"))
    was_training = embedder.training
    embedder.eval()  # no dropout or batch-norm updates while caching (the network has neither, a fine-tuned one may)
    device = next(embedder.parameters()).device
    try:
        embeddings = np.lib.format.open_memmap(building / "embeddings.npy", mode="w+", dtype=np.float32, shape=shape)
        started = time.perf_counter()
        loader = DataLoader(CachedClips(clips), batch_size=batch_size)  # in order: row i of the cache is clip i
        for start, (waveforms, _) in zip(
            range(0, len(clips), batch_size), tqdm(loader, desc="embedding clips (once)", disable=not progress)
        ):
            rows = np.arange(start, start + len(waveforms))  # waveforms: (batch, 1, num_samples) in [-1, 1]
            waveforms = F.pad(waveforms, (pad_samples, pad_samples))  # (batch, 1, num_samples + 2 * pad_samples)
            features = embedder(waveforms.to(device), settings["layer"])  # (batch, windows or steps, dim)
            embeddings[rows] = features.float().cpu().numpy()
        embeddings.flush()
        del embeddings
        marker = {
            "settings": settings,
            "root": str(Path(clips.root).resolve()),
            "seconds": round(time.perf_counter() - started, 1),
            "device": str(device),
        }
        write_marker(building / EMBEDDING_MARKER, marker)
        try:
            os.rename(building, directory)  # atomic: the cache appears complete or not at all
        except OSError:
            if not _embeddings_complete(directory, settings, shape):  # another process finished it first
                raise
    finally:
        embedder.train(was_training)
        shutil.rmtree(building, ignore_errors=True)  # left over only if the rename did not happen


def _remove_superseded_embeddings(directory: Path, root: Path, settings: dict) -> list[Path]:
    """Delete the embedding caches of ``root`` that differ from ``settings`` only by the data: it changed."""
    same_except_data = {name: value for name, value in settings.items() if name != "clips"}
    removed = []
    for other in directory.parent.iterdir():
        if other == directory or other.name.startswith("."):  # ".building" folders may be in use
            continue
        try:
            with open(other / EMBEDDING_MARKER) as f:
                marker = json.load(f)
        except (OSError, ValueError):  # not a finished cache: not ours to judge
            continue
        theirs = {name: value for name, value in marker.get("settings", {}).items() if name != "clips"}
        if marker.get("root") == str(Path(root).resolve()) and theirs == same_except_data:
            shutil.rmtree(other)
            removed.append(other)
    return removed
