"""Recognising your own voice: record in the browser, classify in the kernel.

Taught in notebook 10. The browser half (``recorder.js``) records raw samples with the Web Audio
API at whatever rate the sound card runs (often 48 kHz) and sends them here; this half turns them
into the kind of clip the model was trained on (mono, 16 kHz, 1 s, word in the middle).
"""

from __future__ import annotations

import io
from pathlib import Path

import anywidget
import numpy as np
import soundfile as sf
import torch
import traitlets
from matplotlib.figure import Figure

from .data import CLIP_SAMPLES, SAMPLE_RATE, DataError, check_samples, read_audio, to_mono
from .models import LogMel
from .plots import plot_spectrogram, plot_waveform
from .training import top_k
from .transfer import default_model_path, model_threshold, verdict
from .transforms import center_on_loudest

HERE = Path(__file__).parent


def prepare_recording(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """A recording ``(channels, n)`` at any rate -> a training-like clip ``(1, 16000)``.

    Used by :class:`Recorder`. Channels are averaged to mono, the rate is converted to 16 kHz, and the
    second around the loudest part is kept (or the recording is padded to one second).
    """
    return center_on_loudest(to_mono(waveform, sample_rate, SAMPLE_RATE), CLIP_SAMPLES)  # (1, 16000)


def classify_file(path: str | Path, model: torch.nn.Module, labels: list[str], k: int = 3) -> list[tuple[str, float]]:
    """Top-``k`` words for an audio file of any rate, length and channel count. Taught in notebook 10.

    A missing, unreadable or broken file (or a directory) raises :class:`speechlib.DataError` naming it.
    """
    return top_k(model, prepare_recording(*read_audio(path)), labels, k)


def plot_clip(clip: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> Figure:
    """The waveform and log-mel spectrogram of one clip ``(1, n)``, side by side, as the :class:`Recorder` shows them.

    The spectrogram has the CNN's settings (:class:`speechlib.models.LogMel`), in dB before the
    CNN's normalisation. A plain ``matplotlib.figure.Figure`` (not pyplot), so the notebook does
    not draw it twice.
    """
    features = LogMel(sample_rate=sample_rate, normalize=False)
    log_mel = features(clip)  # (1, n_mels, frames) in dB
    figure = Figure(figsize=(9, 2.6), layout="constrained")
    wave_ax, mel_ax = figure.subplots(1, 2)
    plot_waveform(clip, sample_rate, ax=wave_ax, title="waveform")
    plot_spectrogram(
        log_mel,
        ax=mel_ax,
        title="log-mel spectrogram (dB)",
        hop_seconds=features.melspec.hop_length / sample_rate,
        ylabel="mel bin",
    )
    return figure


def png_bytes(figure: Figure) -> bytes:
    """A figure as PNG file contents."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def wav_bytes(clip: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A clip ``(1, n)`` as 16-bit WAV file contents, for the browser's <audio> player."""
    buffer = io.BytesIO()
    sf.write(buffer, clip[0].clamp(-1, 1).numpy(), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def decode_audio(data: bytes, name: str) -> tuple[torch.Tensor, int]:
    """The contents of an audio file (WAV, FLAC, OGG) -> ``(waveform (channels, n), sample_rate)``.

    Used by :class:`Recorder` for files that arrive as bytes, uploaded in the browser. Bad data raises
    :class:`speechlib.DataError` naming ``name``.
    """
    return read_audio(io.BytesIO(data), name)  # (channels, n), sample_rate


class Recorder(anywidget.AnyWidget):
    """Record about a second in the browser (or pick a file) and see the model's top-3 words.

    Taught in notebook 10. ``Recorder()`` listens with the shipped transfer model (``speechlib.DEFAULT_MODEL``,
    which also knows when it heard no word); ``Recorder(model, labels)`` with any other. Show it as a cell's
    last line. It records ``seconds`` (1.5 s: a little slack to start speaking; the loudest second is kept),
    then shows the clip the model heard (player, waveform, mel spectrogram), its three most probable words,
    and in the status line "I heard nothing" or "not one of the words" when that is the model's answer
    (``verdict``). ``recorder.classify_file(path)`` does the same for a file on the kernel's machine.
    Any error shows in the widget.
    """

    _esm = HERE / "recorder.js"
    _css = HERE / "recorder.css"

    seconds = traitlets.Float(1.5).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)  # what happened last, in words
    error = traitlets.Unicode("").tag(sync=True)  # set instead of status when something failed
    top3 = traitlets.List().tag(sync=True)  # [{"word": "yes", "probability": 0.97}, ...]
    verdict = traitlets.Unicode("").tag(sync=True)  # "I heard nothing", "not one of the words" or ""
    audio = traitlets.Bytes(b"").tag(sync=True)  # the 1 s clip the model heard, as WAV
    image = traitlets.Bytes(b"").tag(sync=True)  # its waveform and mel spectrogram, as PNG

    def __init__(self, model: torch.nn.Module | None = None, labels: list[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        if model is None:
            from .training import load_model  # lazily: only the default needs it

            model, default_labels = load_model(default_model_path())
            labels = default_labels if labels is None else labels
        if labels is None:
            raise ValueError("Recorder(model, labels): give the model's labels too (load_model returns both)")
        self.model = model
        self.labels = list(labels)
        words = [label for label in self.labels if not label.startswith("_")]  # not _silence_
        self.status = f"Press the button and say one of: {', '.join(words)}."
        self.on_msg(self._on_message)

    def __repr__(self) -> str:
        # Deterministic, so the notebook's saved output matches a fresh run (nbval).
        words = sum(not label.startswith("_") for label in self.labels)
        return f"Recorder({words} words, records {self.seconds} s)"

    def classify(self, waveform: torch.Tensor, sample_rate: int, source: str) -> list[tuple[str, float]]:
        """Prepare a recording ``(channels, n)``, classify it and show everything in the widget."""
        check_samples(waveform.numpy(), source)  # a recording of NaNs would give NaN probabilities
        seconds = waveform.shape[-1] / sample_rate
        clip = prepare_recording(waveform, sample_rate)  # (1, 16000)
        best = top_k(self.model, clip, self.labels, k=3)
        self.audio = wav_bytes(clip)
        self.image = png_bytes(plot_clip(clip))
        self.top3 = [{"word": word, "probability": probability} for word, probability in best]
        self.verdict = verdict(best, model_threshold(self.model)) or ""
        answer = f" {self.verdict}." if self.verdict else ""
        loudness = "" if clip.abs().max() > 1e-3 else " It is silent: is the microphone muted?"
        self.error = ""
        self.status = f"{source}: {seconds:.2f} s at {sample_rate} Hz -> 1 s at {SAMPLE_RATE} Hz.{answer}{loudness}"
        return best

    def classify_file(self, path: str | Path) -> list[tuple[str, float]]:
        """Classify an audio file on the kernel's machine and show it in the widget."""
        samples, sample_rate = read_audio(path)
        return self.classify(samples, sample_rate, Path(path).name)

    def _on_message(self, widget, content: dict, buffers: list) -> None:
        # Messages from recorder.js: {"type": "recording", "sample_rate": 48000} + float32 samples,
        # or {"type": "file", "name": "yes.wav"} + the file's bytes.
        try:
            if content.get("type") == "recording":
                samples = torch.from_numpy(np.frombuffer(buffers[0], dtype=np.float32).copy())[None]  # (1, n)
                self.classify(samples, int(content["sample_rate"]), "recording")
            elif content.get("type") == "file":
                samples, sample_rate = decode_audio(bytes(buffers[0]), content["name"])
                self.classify(samples, sample_rate, content["name"])
        except DataError as error:  # a bad file or recording: its own message says what is wrong
            self._show_error(str(error))
        except Exception as error:  # noqa: BLE001 (anything else would vanish into the kernel log: show it)
            self._show_error(f"{type(error).__name__}: {error}")

    def _show_error(self, message: str) -> None:
        self.top3 = []
        self.verdict = ""
        self.error = message
