"""Listening continuously: a keyword spotter over an endless stream of sound. Taught in notebook 11.

A clip classifier answers once for one second someone chose. A keyword spotter hears everything, so it
works like TensorFlow's ``RecognizeCommands`` (``examples/speech_commands``) and openWakeWord:

1. **Sliding windows.** Every 80 ms (one new window of the speech embedding, :mod:`speechlib.embedding`)
   the model's heads look at the last 1.4 s of sound and give a probability for every class.
2. **Averaging.** A word lasts several windows and a false alarm usually only one or two: the probabilities
   are averaged over ``average_seconds``.
3. **A threshold.** A word is reported when it is the best class of the average and its averaged
   probability reaches ``threshold``; ``_silence_`` and ``_unknown_`` (:mod:`speechlib.transfer`) are never
   reported, they are what the model says when nobody said a word.
4. **Suppression.** After a report the listener stays quiet for ``suppress_seconds``, so one word is not
   reported three times.

It is *incremental*: each chunk of sound fed in computes only what is new. The log-mel frames, the
embedding windows and the heads' convolutions already computed are kept (a few seconds of them), so a
new 80 ms costs one 76-frame pass of the embedding network and a few small convolutions, whatever the
chunk size. :func:`stream_posteriors` computes the same probabilities for a whole recording at once (the
reference the tests compare the stream with, and the fast path for notebook 11's threshold sweeps).

Two things differ from classifying one-second clips (``model(clips)``), because a stream has no edges:
the decibel floor is the loudest frame of the last second minus 80 dB (a clip's is its own loudest minus
80 dB), and the heads' convolutions see the real neighbouring windows where a clip's see zero padding. So a
head's newest feature is the one centred two windows back (160 ms): a small delay, counted in the latency.

    >>> listener = Listener(model, labels)                    # doctest: +SKIP
    >>> for chunk in microphone_chunks():                     # any size, any rate given at construction
    ...     for detection in listener.feed(chunk):
    ...         print(f"{detection.time:.2f} s  {detection.word}  {detection.probability:.2f}")
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .data import CLIP_SAMPLES, SAMPLE_RATE, DataError, check_file, check_samples
from .embedding import HOP_FRAMES, INT16_SCALE, WINDOW_FRAMES
from .transfer import EmbeddingClassifier

FRAME_SAMPLES = 512  # one log-mel frame: the DFT size of the embedding's front end
FRAME_HOP = 160  # 10 ms between frames
FLOOR_FRAMES = 100  # the decibel floor follows the loudest frame of the last second
TOP_DB = 80.0  # the floor sits 80 dB below it, as for a clip

# Chosen for models/transfer.pt by `tools/benchmark_streaming.py --sweep` on streams of the bundled validation
# speakers and validation talk (BENCHMARKS.md: no setting meets the targets; this one misses the fewest).
THRESHOLD = 0.4
AVERAGE_SECONDS = 0.72
SUPPRESS_SECONDS = 1.5


@dataclass(frozen=True)
class Detection:
    """One word heard: ``word``, ``time`` (seconds from the start of the stream at which it was reported) and
    its averaged ``probability``."""

    word: str
    time: float
    probability: float

    def as_dict(self) -> dict:
        return asdict(self)


def window_time(window: int) -> float:
    """Seconds from the stream's start to the end of the sound embedding window number ``window`` covers."""
    last_frame = window * HOP_FRAMES + WINDOW_FRAMES - 1
    return (last_frame * FRAME_HOP + FRAME_SAMPLES) / SAMPLE_RATE


def _check_model(model) -> EmbeddingClassifier:
    if not isinstance(model, EmbeddingClassifier):
        raise TypeError(
            f"listening needs a model built on the speech embedding (an EmbeddingClassifier such as "
            f"models/transfer.pt), not a {type(model).__name__}"
        )
    return model


def _head_windows(model: EmbeddingClassifier) -> tuple[int, int]:
    """How many embedding windows and inner-layer steps the heads pooled over in training (9 and 27)."""
    samples = CLIP_SAMPLES + 2 * model.pad_samples  # a training clip, padded
    windows = model.embedding.output_shape(samples)[0]
    steps = model.embedding.output_shape(samples, model.inner_layer)[0] if model.inner_layer else 0
    return windows, steps


def _steps_per_window(model: EmbeddingClassifier) -> list[tuple[int, int]]:
    """``(steps of the first window, new steps per later window)`` of each branch: ``[(1, 1), (10, 2)]``."""
    names = ["output", model.inner_layer] if model.inner_layer else ["output"]
    return [
        (
            model.embedding.network.output_shape(WINDOW_FRAMES, name)[0],
            model.embedding.network.output_shape(WINDOW_FRAMES + HOP_FRAMES, name)[0]
            - model.embedding.network.output_shape(WINDOW_FRAMES, name)[0],
        )
        for name in names
    ]


class HeadBank:
    """All the :class:`speechlib.transfer.EmbeddingHead` s over one kind of input, as one stack of convolutions.

    Batch normalisation (fixed once trained) is folded into each convolution's weights, and the heads sit side
    by side (the second convolution is grouped, one group per head), so a new step costs two small
    convolutions for all heads together. The convolutions are *unpadded* here: a stream has no edges.
    """

    def __init__(self, heads):
        layers = [[layer for layer in head.layers if isinstance(layer, (nn.Conv1d, nn.BatchNorm1d))] for head in heads]
        self.weights, self.biases = [], []
        for depth in range(0, len(layers[0]), 2):  # (convolution, batch norm) pairs
            weights, biases = [], []
            for head_layers in layers:
                conv, norm = head_layers[depth : depth + 2]
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # (width,)
                weights.append(conv.weight * scale[:, None, None])
                biases.append((conv.bias - norm.running_mean) * scale + norm.bias)
            self.weights.append(torch.cat(weights))  # (heads * width, inputs, 3)
            self.biases.append(torch.cat(biases))  # (heads * width,)
        self.groups = [1] + [len(heads)] * (len(self.weights) - 1)  # layer 1 reads the shared input
        self.num_heads, self.width = len(heads), heads[0].classifier.in_features // 2
        self.classifier_weight = torch.stack([head.classifier.weight for head in heads])  # (heads, classes, 2 width)
        self.classifier_bias = torch.stack([head.classifier.bias for head in heads])  # (heads, classes)
        self.context = sum(weight.shape[2] - 1 for weight in self.weights)  # 4: 2 steps on each side

    def layer(self, depth: int, x: torch.Tensor) -> torch.Tensor:
        """Convolution ``depth`` (0 or 1) + ReLU, unpadded: ``(1, channels, steps)`` -> ``(1, heads * width, steps - 2)``."""
        return F.relu(F.conv1d(x, self.weights[depth], self.biases[depth], groups=self.groups[depth]))

    def step(self, depth: int, x: torch.Tensor) -> torch.Tensor:
        """:meth:`layer` for a few steps, as matrix products: 4-6 times faster than ``conv1d`` on 1-2 new steps."""
        if not hasattr(self, "matrices"):  # (groups, 3 x inputs per group, outputs per group), made once
            self.matrices = [
                weight.reshape(groups, -1, *weight.shape[1:]).permute(0, 3, 2, 1).flatten(1, 2)
                for weight, groups in zip(self.weights, self.groups)
            ]
        groups = self.groups[depth]
        windows = x[0].reshape(groups, -1, x.shape[2]).unfold(2, self.weights[depth].shape[2], 1)  # (g, in, s, 3)
        windows = windows.permute(0, 2, 3, 1).flatten(2)  # (groups, steps - 2, 3 x inputs per group)
        out = torch.baddbmm(self.biases[depth].reshape(groups, 1, -1), windows, self.matrices[depth])
        return F.relu(out.permute(0, 2, 1).reshape(1, -1, out.shape[1]))  # (1, heads * width, steps - 2)

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Inputs ``(steps, dim)`` -> every head's features ``(heads * width, steps - 4)``."""
        x = inputs.T[None]  # (1, dim, steps)
        for depth in range(len(self.weights)):
            x = self.layer(depth, x)
        return x[0]

    def log_probs(self, features: torch.Tensor, partial: bool = False) -> torch.Tensor:
        """Pool features ``(n, heads * width, pool)`` over time (largest and mean), then each head's linear layer:
        ``(n, heads, classes)`` log-probabilities. ``partial``: NaN marks "no feature yet" (the start of a
        stream in :func:`stream_posteriors`), left out of the pooling."""
        n, _, pool = features.shape
        features = features.reshape(n, self.num_heads, self.width, pool)
        if partial:
            real = ~torch.isnan(features)
            largest = features.masked_fill(~real, -torch.inf).amax(dim=3)  # (n, heads, width)
            mean = features.masked_fill(~real, 0).sum(dim=3) / real.sum(dim=3).clamp(min=1)
        else:
            largest, mean = features.amax(dim=3), features.mean(dim=3)  # (n, heads, width) each
        pooled = torch.cat([largest, mean], dim=2)  # (n, heads, 2 width)
        logits = torch.einsum("nhk,hck->nhc", pooled, self.classifier_weight) + self.classifier_bias
        return F.log_softmax(logits, dim=2)


def _combine(model: EmbeddingClassifier, log_probs: list[torch.Tensor]) -> torch.Tensor:
    """The banks' log-probabilities ``(n, heads, classes)`` -> the model's ``(n, classes)``: the mean over all
    heads plus the model's log prior, renormalised, as :meth:`EmbeddingClassifier.classify_embeddings` does."""
    mean = torch.cat(log_probs, dim=1).mean(dim=1)  # (n, classes)
    return F.log_softmax(mean + model.log_prior, dim=1)


def _banks(model: EmbeddingClassifier) -> list[HeadBank]:
    return [HeadBank(heads) for heads in (model.heads, model.inner_heads) if len(heads)]


def _log_mel(model: EmbeddingClassifier, samples: torch.Tensor) -> torch.Tensor:
    """16 kHz samples ``(n,)`` -> decibels ``(frames, 32)`` before the floor (frame i starts at sample 160 i)."""
    power = model.embedding.front_end.mel_spectrogram(samples[None] * INT16_SCALE)  # (1, 32, frames)
    return 10 * torch.log10(power.clamp(min=1e-10))[0].T  # (frames, 32)


def _floored(decibels: torch.Tensor, loudest: torch.Tensor) -> torch.Tensor:
    """Decibels ``(frames, 32)`` floored at each frame's ``loudest`` recent frame ``(frames,)`` minus 80 dB, then
    openWakeWord's ``x / 10 + 2`` (what :class:`speechlib.embedding.MelFrontEnd` does for a clip)."""
    return torch.maximum(decibels, (loudest - TOP_DB)[:, None]) / 10 + 2


@torch.inference_mode()
def stream_posteriors(model, samples: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The listener's class probabilities for a whole 16 kHz recording ``(n,)`` at once. Notebook 11.

    Returns ``(times (steps,), probabilities (steps, classes))``: one row per embedding window (every 80 ms),
    ``times`` the end of the sound each row has heard (:func:`window_time`). The same numbers as feeding the
    recording to a :class:`Listener` in chunks (``Listener.history``), computed in one pass.
    """
    model = _check_model(model)
    device = model.log_prior.device
    samples = torch.as_tensor(np.asarray(samples, dtype=np.float32)).reshape(-1).to(device)
    if samples.numel() < FRAME_SAMPLES + (WINDOW_FRAMES - 1) * FRAME_HOP:
        return np.zeros(0), np.zeros((0, len(model.log_prior)))
    decibels = _log_mel(model, samples)  # (frames, 32)
    windows = (len(decibels) - WINDOW_FRAMES) // HOP_FRAMES + 1
    decibels = decibels[: (windows - 1) * HOP_FRAMES + WINDOW_FRAMES]  # the frames complete windows use
    # the loudest frame of the last FLOOR_FRAMES, for every frame: a running maximum looking back only
    band_max = F.pad(decibels.amax(dim=1)[None, None], (FLOOR_FRAMES - 1, 0), value=-torch.inf)
    loudest = F.max_pool1d(band_max, FLOOR_FRAMES, stride=1)[0, 0]  # (frames,)
    log_mel = _floored(decibels, loudest)[None]  # (1, frames, 32)
    names = ("output", model.inner_layer) if model.inner_layer else ("output",)
    outputs = model.embedding.network.layer_outputs(log_mel, names)
    branches = [(outputs["output"][0], model.heads)]  # embeddings (windows, 96)
    if model.inner_layer:
        branches.append((outputs[model.inner_layer][0], model.inner_heads))  # (2 windows + 8, 192): 2 per window
    rows, ready = [], torch.ones(windows, dtype=torch.bool)
    for (inputs, _), bank, pool, (first, per_window) in zip(
        branches, _banks(model), _head_windows(model), _steps_per_window(model)
    ):
        features = F.pad(bank.features(inputs), (pool, 0), value=torch.nan)  # (heads * width, pool + steps - 4)
        known = first + per_window * torch.arange(windows)  # input steps known once window r is complete
        newest = known - bank.context  # features of window r: [newest - pool, newest) (pool NaNs in front)
        branch_rows = []
        for block in range(0, windows, 512):  # a block of windows at a time: bounded memory
            starts = newest[block : block + 512].clamp(min=0)
            pooled = features.unfold(1, pool, 1)[:, starts].transpose(0, 1)  # (n, heads * width, pool)
            branch_rows.append(bank.log_probs(pooled, partial=True))
        rows.append(torch.cat(branch_rows))  # (windows, heads, classes)
        ready &= newest > 0  # a window before the first feature has nothing to pool
    log_probs = _combine(model, rows)[ready]  # (windows with features, classes)
    times = np.array([window_time(window) for window in torch.nonzero(ready)[:, 0].tolist()])
    return times, log_probs.exp().cpu().numpy()


class Detector:
    """Averaging, threshold and suppression over a stream of class probabilities. Notebook 11.

    ``update(time, probabilities)`` takes one row of probabilities (in the order of ``labels``) and returns a
    :class:`Detection` or ``None``. Labels starting with ``_`` (``_silence_``, ``_unknown_``) are never
    reported. ``average_seconds`` is counted in rows of ``hop_seconds`` (80 ms).
    """

    def __init__(
        self,
        labels: list[str],
        threshold: float = THRESHOLD,
        average_seconds: float = AVERAGE_SECONDS,
        suppress_seconds: float = SUPPRESS_SECONDS,
        hop_seconds: float = HOP_FRAMES * FRAME_HOP / SAMPLE_RATE,
    ):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if average_seconds < 0 or suppress_seconds < 0:
            raise ValueError("average_seconds and suppress_seconds must be 0 or more")
        self.labels = list(labels)
        self.threshold, self.suppress_seconds = threshold, suppress_seconds
        self.is_word = np.array([not label.startswith("_") for label in self.labels])
        self.recent = deque(maxlen=max(1, round(average_seconds / hop_seconds)))
        self.last_time = -np.inf

    def update(self, time: float, probabilities: np.ndarray) -> Detection | None:
        self.recent.append(np.asarray(probabilities, dtype=np.float64))
        average = self.smoothed()
        best = int(average.argmax())
        if not self.is_word[best] or average[best] < self.threshold:
            return None
        if time - self.last_time < self.suppress_seconds:
            return None  # just reported a word: the same sound would be reported again
        self.last_time = time
        return Detection(self.labels[best], round(float(time), 3), round(float(average[best]), 4))

    def smoothed(self) -> np.ndarray:
        """The average of the last rows: what the threshold is compared with."""
        return np.mean(self.recent, axis=0)


def detect(times, probabilities, labels: list[str], **settings) -> list[Detection]:
    """Run a :class:`Detector` over rows of ``probabilities`` (e.g. from :func:`stream_posteriors`). Notebook 11."""
    detector = Detector(labels, **settings)
    found = (detector.update(time, row) for time, row in zip(times, probabilities))
    return [detection for detection in found if detection is not None]


class _StreamingBank:
    """A :class:`HeadBank` over a stream of inputs: each convolution computed once per new step (its last two
    inputs kept as context for the next), the newest ``pool`` features kept for pooling."""

    def __init__(self, bank: HeadBank, pool: int):
        self.bank, self.pool = bank, pool
        self.tails = [None] * len(bank.weights)  # per convolution: its last 2 inputs (1, channels, <= 2)
        self.features = None  # (heads * width, <= pool)

    def push(self, new: torch.Tensor) -> None:
        """New input steps ``(steps, dim)``."""
        x = new.T[None]  # (1, dim, steps)
        for depth, tail in enumerate(self.tails):
            x = x if tail is None else torch.cat([tail, x], dim=2)
            self.tails[depth] = x[:, :, -(self.bank.weights[depth].shape[2] - 1) :]
            if x.shape[2] < self.bank.weights[depth].shape[2]:
                return  # the first steps of a stream: not enough context yet
            x = self.bank.step(depth, x)  # (1, heads * width, new steps)
        self.features = x[0] if self.features is None else torch.cat([self.features, x[0]], dim=1)[:, -self.pool :]

    def log_probs(self) -> torch.Tensor | None:
        return None if self.features is None else self.bank.log_probs(self.features[None])  # (1, heads, classes)


class Listener:
    """A keyword spotter fed chunks of sound as they come. Notebook 11, the Recorder's Listen mode and
    ``speechlib listen``.

    ``Listener(model, labels, sample_rate=48000)`` then ``listener.feed(chunk)`` with chunks of any length
    (mono ``(n,)`` or ``(channels, n)``, floats in [-1, 1]): returns the :class:`Detection` s it made. Other
    rates are converted to 16 kHz by a streaming resampler (soxr). ``history`` holds the last
    ``history_seconds`` of ``(time, probabilities, averaged probabilities)``, one per 80 ms, for pictures.
    Settings: see :class:`Detector`.
    """

    def __init__(
        self,
        model,
        labels: list[str],
        sample_rate: int = SAMPLE_RATE,
        threshold: float = THRESHOLD,
        average_seconds: float = AVERAGE_SECONDS,
        suppress_seconds: float = SUPPRESS_SECONDS,
        history_seconds: float = 10.0,
    ):
        self.model = _check_model(model).eval()
        self.labels = list(labels)
        if len(self.labels) != len(self.model.log_prior):
            raise ValueError(f"{len(self.labels)} labels for a model of {len(self.model.log_prior)} classes")
        self.sample_rate = int(sample_rate)
        self.settings = {
            "threshold": threshold,
            "average_seconds": average_seconds,
            "suppress_seconds": suppress_seconds,
        }
        self.history = deque(maxlen=max(1, round(history_seconds * SAMPLE_RATE / (HOP_FRAMES * FRAME_HOP))))
        self.reset()

    def reset(self) -> None:
        """Forget everything heard: the next chunk starts a new stream at time 0."""
        import soxr  # lazily: only listening needs it

        self.detector = Detector(self.labels, **self.settings)
        self.resampler = (
            None if self.sample_rate == SAMPLE_RATE else soxr.ResampleStream(self.sample_rate, SAMPLE_RATE, 1)
        )
        self.device = self.model.log_prior.device
        self.samples = torch.zeros(0, device=self.device)  # 16 kHz samples not yet turned into frames
        self.next_frame = 0  # number of the next log-mel frame
        self.band_max = deque(maxlen=FLOOR_FRAMES - 1)  # the loudest band of the last frames, for the floor
        self.frames = torch.zeros(0, 32, device=self.device)  # floored log-mel frames not yet in a window
        self.windows = 0  # embedding windows computed so far
        pool_windows, pool_steps = _head_windows(self.model)
        self.steps = _steps_per_window(self.model)
        self.banks = [_StreamingBank(bank, pool) for bank, pool in zip(_banks(self.model), (pool_windows, pool_steps))]
        self.history.clear()

    @property
    def time(self) -> float:
        """Seconds of sound heard so far (at 16 kHz, after resampling)."""
        return (self.next_frame * FRAME_HOP + len(self.samples)) / SAMPLE_RATE

    @torch.inference_mode()
    def feed(self, chunk) -> list[Detection]:
        """Hear ``chunk`` (mono ``(n,)`` or ``(channels, n)``, at ``sample_rate``); the words detected in it."""
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim == 2:
            chunk = chunk.mean(axis=0)  # (channels, n) -> (n,)
        if chunk.ndim != 1:
            raise ValueError(f"expected samples (n,) or (channels, n), got shape {chunk.shape}")
        if chunk.size == 0:
            return []
        check_samples(chunk, "the sound fed to the listener")
        if self.resampler is not None:
            chunk = self.resampler.resample_chunk(chunk)
        new = torch.tensor(chunk, device=self.device)  # a copy: the chunk may be a read-only buffer
        self.samples = torch.cat([self.samples, new])
        return self._new_frames()

    def _new_frames(self) -> list[Detection]:
        count = (len(self.samples) - FRAME_SAMPLES) // FRAME_HOP + 1 if len(self.samples) >= FRAME_SAMPLES else 0
        if count == 0:
            return []
        decibels = _log_mel(self.model, self.samples[: (count - 1) * FRAME_HOP + FRAME_SAMPLES])  # (count, 32)
        self.samples = self.samples[count * FRAME_HOP :]
        self.next_frame += count
        # the running maximum of the floor, frame by frame, as stream_posteriors computes it at once
        band_max = torch.cat([torch.tensor(list(self.band_max), device=self.device), decibels.amax(dim=1)])
        padded = F.pad(band_max[None, None], (FLOOR_FRAMES - 1 - len(self.band_max), 0), value=-torch.inf)
        loudest = F.max_pool1d(padded, FLOOR_FRAMES, stride=1)[0, 0, -count:]
        self.band_max.extend(decibels.amax(dim=1).tolist())
        self.frames = torch.cat([self.frames, _floored(decibels, loudest)])
        return self._new_windows()

    def _new_windows(self) -> list[Detection]:
        count = (len(self.frames) - WINDOW_FRAMES) // HOP_FRAMES + 1 if len(self.frames) >= WINDOW_FRAMES else 0
        if count == 0:
            return []
        used = (count - 1) * HOP_FRAMES + WINDOW_FRAMES
        names = ("output", self.model.inner_layer) if self.model.inner_layer else ("output",)
        outputs = self.model.embedding.network.layer_outputs(self.frames[None, :used], names)
        self.frames = self.frames[count * HOP_FRAMES :]  # the overlap of the next window stays
        embeddings = outputs["output"][0]  # (count, 96)
        inner = outputs[self.model.inner_layer][0] if self.model.inner_layer else None  # (2 count + 8, 192)
        detections = []
        for i in range(count):  # one classification per window: the same rows as stream_posteriors
            window = self.windows
            self.banks[0].push(embeddings[i : i + 1])
            if inner is not None:
                # the inner steps window w adds: from those known after window w - 1 to those known after w
                first, per_window = self.steps[1]
                origin = per_window * (window - i)  # global step of this pass's first inner step
                start = first + per_window * (window - 1) if window else 0
                end = first + per_window * window
                self.banks[1].push(inner[start - origin : end - origin])
            self.windows += 1
            detection = self._classify()
            if detection is not None:
                detections.append(detection)
        return detections

    def _classify(self) -> Detection | None:
        log_probs = [bank.log_probs() for bank in self.banks]
        if any(part is None for part in log_probs):
            return None  # the first windows: a head has no feature yet
        probabilities = _combine(self.model, log_probs)[0].exp().cpu().numpy()
        time = window_time(self.windows - 1)
        detection = self.detector.update(time, probabilities)
        self.history.append((time, probabilities, self.detector.smoothed()))
        return detection


def listen_file(
    path: str | Path, model, labels: list[str], progress: bool = False, **settings
) -> tuple[list[Detection], float]:
    """Listen to an audio file of any length, rate and channel count, in blocks (bounded memory). Notebook 11
    and ``speechlib listen``. Returns ``(detections, seconds of sound)``; a bad file raises
    :class:`speechlib.DataError` naming it."""
    import soundfile as sf
    from tqdm.auto import tqdm

    check_file(path)
    try:
        audio = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise DataError(f"{path}: not a readable audio file ({getattr(error, 'error_string', error)})") from error
    with audio:
        listener = Listener(model, labels, sample_rate=audio.samplerate, **settings)
        if audio.frames == 0:
            raise DataError(f"{path}: contains no samples")
        detections = []
        block = audio.samplerate * 10  # ten seconds at a time
        with tqdm(
            total=audio.frames / audio.samplerate,
            unit="s",
            disable=not progress or audio.frames < 60 * audio.samplerate,
            desc=Path(path).name,
        ) as bar:
            for samples in audio.blocks(blocksize=block, dtype="float32", always_2d=True):  # (n, channels)
                check_samples(samples, path)
                detections += listener.feed(samples.T)
                bar.update(len(samples) / audio.samplerate)
        return detections, audio.frames / audio.samplerate
