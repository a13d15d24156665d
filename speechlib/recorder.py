"""Recognising your own voice: record in the browser, classify in the kernel.

Taught in notebook 10 (Record mode), notebook 11 (Listen mode) and notebook 12 (Teach mode). The browser
half (``recorder.js``) records raw samples with the Web Audio API at whatever rate the sound card runs (often 48 kHz) and sends
them here; this half turns them into the kind of clip the model was trained on (mono, 16 kHz, 1 s, word
in the middle), or, in Listen mode, feeds a stream of them to a :class:`speechlib.listen.Listener`, or,
in Teach mode, keeps a few takes of a new word and enrols it into the model (``speechlib.enrol``).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import anywidget
import numpy as np
import soundfile as sf
import torch
import traitlets
from matplotlib.figure import Figure

from . import listen
from .data import CLIP_SAMPLES, SAMPLE_RATE, DataError, check_samples, read_audio, to_mono
from .models import LogMel
from .plots import plot_spectrogram, plot_waveform
from .training import top_k
from .transfer import EmbeddingClassifier, default_model_path, model_threshold, verdict
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


def plot_clip(clip: torch.Tensor, sample_rate: int = SAMPLE_RATE, model: torch.nn.Module | None = None) -> Figure:
    """The waveform and log-mel spectrogram of one clip ``(1, n)``, side by side, as the :class:`Recorder` shows them.

    The spectrogram is what ``model`` hears: for a model on the speech embedding (an
    :class:`speechlib.transfer.EmbeddingClassifier`, such as the shipped one) its front end
    (:class:`speechlib.embedding.MelFrontEnd`: 32 mel bands from 60 to 3,800 Hz), else the CNN's
    (:class:`speechlib.models.LogMel`: 40 bands from 0 to 8 kHz); in dB, before any rescaling. A plain
    ``matplotlib.figure.Figure`` (not pyplot), so the notebook does not draw it twice.
    """
    if isinstance(model, EmbeddingClassifier):
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"the speech embedding hears {SAMPLE_RATE} Hz clips, not {sample_rate} Hz")
        front_end = model.embedding.front_end
        with torch.no_grad():
            log_mel = (front_end(clip[None].cpu()) - 2) * 10  # (1, frames, 32): undo openWakeWord's x / 10 + 2
        log_mel, melspec = log_mel.transpose(1, 2), front_end.mel_spectrogram  # (1, 32, frames)
        heard = "what the model hears"
    else:
        features = LogMel(sample_rate=sample_rate, normalize=False)
        log_mel, melspec = features(clip), features.melspec  # (1, n_mels, frames) in dB
        heard = "what the CNN hears"
    filters = melspec.mel_scale.fb  # (frequency bins, bands): each band's triangle
    bin_hz = sample_rate / melspec.n_fft
    centres = filters.argmax(dim=0) * bin_hz  # (bands,) the frequency each band weighs most
    bands, low, high = log_mel.shape[1], melspec.mel_scale.f_min, melspec.mel_scale.f_max or sample_rate / 2
    figure = Figure(figsize=(9, 2.6), layout="constrained")
    wave_ax, mel_ax = figure.subplots(1, 2)
    plot_waveform(clip, sample_rate, ax=wave_ax, title="waveform")
    plot_spectrogram(
        log_mel,
        ax=mel_ax,
        title=f"{heard} (dB, {low:,.0f}-{high:,.0f} Hz)",
        ylabel=f"{bands} mel bands (Hz)",
        hop_seconds=melspec.hop_length / sample_rate,
        frequencies=centres,
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


MODES = ("record", "listen", "teach")  # the widget's modes, as its buttons offer them
CURVE_SECONDS = 5.0  # Listen mode's picture shows the last 5 s
CURVE_WORDS = 4  # ... of the 4 words most probable in them
MAX_DETECTIONS = 100  # the running list keeps the newest 100 words heard
SILENT_DB = -100.0  # Teach mode's loudness floor: a take of zeros is "-100 dB", not minus infinity


def curves(history, labels: list[str], threshold: float, seconds: float = CURVE_SECONDS) -> dict:
    """Listen mode's picture as data: the averaged probability of the most probable words over the last ``seconds``.

    ``history`` is :attr:`speechlib.listen.Listener.history` (``(time, probabilities, averaged)`` every 80 ms).
    Returns ``{"times": [s, ...], "words": [{"word": "yes", "values": [p, ...]}, ...], "threshold": t,
    "seconds": seconds}``, the words best first, rounded to 3 decimals (the browser draws it 10 times a second).
    """
    rows = [row for row in history if row[0] > history[-1][0] - seconds] if history else []
    if not rows:
        return {"times": [], "words": [], "threshold": threshold, "seconds": seconds}
    averaged = np.stack([row[2] for row in rows])  # (steps, classes)
    peaks = np.where([not label.startswith("_") for label in labels], averaged.max(axis=0), -1.0)  # (classes,)
    best = np.argsort(-peaks, kind="stable")[:CURVE_WORDS]
    return {
        "times": [round(float(row[0]), 3) for row in rows],
        "words": [{"word": labels[i], "values": np.round(averaged[:, i], 3).tolist()} for i in best if peaks[i] >= 0],
        "threshold": threshold,
        "seconds": seconds,
    }


class Recorder(anywidget.AnyWidget):
    """Record about a second in the browser (or pick a file) and see the model's top-3 words; or listen continuously.

    Taught in notebooks 10, 11 and 12. ``Recorder()`` listens with the shipped transfer model
    (``speechlib.DEFAULT_MODEL``, which also knows when it heard no word); ``Recorder(model, labels)`` with any
    other. Show it as a cell's last line. Its buttons choose the ``mode``:

    * **Record** (``mode="record"``, notebook 10): it records ``seconds`` (1.5 s: a little slack to start
      speaking; the loudest second is kept), then shows the clip the model heard (player, waveform, and the
      mel spectrogram the model hears), its three most probable words, and in the status line "I heard nothing"
      or "not one of the words" when that is the model's answer (``verdict``). ``recorder.classify_file(path)``
      does the same for a file on the kernel's machine.
    * **Listen** (``mode="listen"``, notebook 11; needs a model on the speech embedding): the microphone streams
      to a :class:`speechlib.listen.Listener` in ~0.1 s chunks until **Stop**; the widget draws the averaged
      probability of the most probable words over the last 5 s with the ``threshold``, and lists the words
      detected with their times (``detections``). ``recorder.listen_file(path)`` does the same for a file.
    * **Teach** (``mode="teach"``, notebook 12): type a new word, record it ``num_takes`` times (5; each take is listed
      with a player of the second the model will learn from and a button to record it again), press
      **Enrol**: :func:`speechlib.enrol.enrol` adds the word to the model, and Record and Listen modes
      recognise it at once (``recorder.model`` and ``recorder.labels`` are replaced). With ``save_path``
      the enrolled model is saved there (atomically; ``load_model`` reads it); ``recorder.save(path)`` saves
      it anywhere. ``recorder.take_file(path)`` and ``recorder.enrol(word)`` do the same from the kernel.

    Any error shows in the widget.
    """

    _esm = HERE / "recorder.js"
    _css = HERE / "recorder.css"

    mode = traitlets.Enum(MODES, default_value="record").tag(sync=True)
    seconds = traitlets.Float(1.5).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)  # what happened last, in words
    error = traitlets.Unicode("").tag(sync=True)  # set instead of status when something failed
    top3 = traitlets.List().tag(sync=True)  # [{"word": "yes", "probability": 0.97}, ...]
    verdict = traitlets.Unicode("").tag(sync=True)  # "I heard nothing", "not one of the words" or ""
    audio = traitlets.Bytes(b"").tag(sync=True)  # the 1 s clip the model heard, as WAV
    image = traitlets.Bytes(b"").tag(sync=True)  # its waveform and mel spectrogram, as PNG
    # Listen mode
    threshold = traitlets.Float(listen.THRESHOLD).tag(sync=True)  # the listener's, for the next Listen
    listening = traitlets.Bool(False).tag(sync=True)  # the kernel is listening to a stream
    detections = traitlets.List().tag(sync=True)  # [{"word": "yes", "time": 2.7, "probability": 0.81}, ...]
    curves = traitlets.Dict().tag(sync=True)  # the rolling picture: see curves()
    # Teach mode
    word = traitlets.Unicode("").tag(sync=True)  # the new word, as typed
    num_takes = traitlets.Int(5).tag(sync=True)  # how many takes of it to record
    takes = traitlets.List().tag(sync=True)  # [{"index": 0, "seconds": 1.5, "loudness": -21.4, "audio": WAV}, ...]
    known_words = traitlets.List().tag(sync=True)  # the model's words (not _silence_, _unknown_), after enrolments
    save_path = traitlets.Unicode("")  # where Enrol saves the enrolled model ("": it is not saved)

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
        self.known_words = self.words
        self.listener: listen.Listener | None = None  # while listening
        self.recordings: list[tuple[torch.Tensor, int]] = []  # Teach mode's takes as recorded: (waveform, rate)
        self._show_mode({"new": self.mode})
        self.observe(self._show_mode, names="mode")
        self.on_msg(self._on_message)

    @property
    def words(self) -> list[str]:
        return [label for label in self.labels if not label.startswith("_")]  # not _silence_, _unknown_

    def __repr__(self) -> str:
        # Deterministic, so the notebook's saved output matches a fresh run (nbval).
        doing = {"record": f"records {self.seconds} s", "listen": "listens continuously", "teach": "teaches a new word"}
        doing = doing[self.mode]
        return f"Recorder({len(self.words)} words, {doing})"

    def _show_mode(self, change: dict) -> None:
        if change.get("old") == "listen" and self.listener is not None:
            self.stop_listening()
        self.error = ""
        if change["new"] == "record":
            self.status = f"Press the button and say one of: {', '.join(self.words)}."
        elif change["new"] == "teach" and not isinstance(self.model, EmbeddingClassifier):
            self.error = self._needs_embedding("Teach")
        elif change["new"] == "teach":
            self.status = (
                f"Type a new word, record it {self.num_takes} times, then press Enrol. "
                f"It knows: {', '.join(self.words)}."
            )
        elif not isinstance(self.model, EmbeddingClassifier):
            self.error = self._needs_embedding("Listen")
        else:
            self.status = f"Press Listen and say any of: {', '.join(self.words)}; press Stop to end."

    def _needs_embedding(self, mode: str) -> str:
        kind = type(self.model).__name__
        return f"{mode} mode needs a model on the speech embedding (such as models/transfer.pt), not a {kind}."

    # -- Record mode ---------------------------------------------------------------------------------

    def classify(self, waveform: torch.Tensor, sample_rate: int, source: str) -> list[tuple[str, float]]:
        """Prepare a recording ``(channels, n)``, classify it and show everything in the widget."""
        check_samples(waveform.numpy(), source)  # a recording of NaNs would give NaN probabilities
        seconds = waveform.shape[-1] / sample_rate
        clip = prepare_recording(waveform, sample_rate)  # (1, 16000)
        best = top_k(self.model, clip, self.labels, k=3)
        self.audio = wav_bytes(clip)
        self.image = png_bytes(plot_clip(clip, model=self.model))
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

    # -- Listen mode ---------------------------------------------------------------------------------

    def start_listening(self, sample_rate: int) -> None:
        """Start a new stream at ``sample_rate``: a fresh listener, an empty list of words."""
        if (
            not isinstance(sample_rate, (int, float))
            or isinstance(sample_rate, bool)
            or not 1000 <= sample_rate <= 768000
        ):
            raise ValueError(f"Listen mode: a sample rate between 1,000 and 768,000 Hz is needed, got {sample_rate!r}")
        if self.listener is not None:
            self.listener.reset()
        self.listener = listen.Listener(self.model, self.labels, sample_rate=int(sample_rate), threshold=self.threshold)
        self.detections, self.curves = [], curves([], self.labels, self.threshold)
        self.listening, self.error = True, ""
        self.status = f"Listening at {int(sample_rate)} Hz: say any of the words; press Stop to end."

    def hear(self, samples: np.ndarray) -> list[listen.Detection]:
        """Feed a chunk of the stream (float32 mono at the stream's rate); show what it changed."""
        if self.listener is None:
            raise ValueError("Listen mode: sound arrived, but listening has not started (listen_start first)")
        found = self.listener.feed(samples)
        if found:
            new = [detection.as_dict() for detection in found]
            self.detections = (self.detections + new)[-MAX_DETECTIONS:]
            last = found[-1]
            self.status = f"Heard {last.word!r} at {last.time:.2f} s ({last.probability:.0%}). Listening..."
        self.curves = curves(self.listener.history, self.labels, self.threshold)
        return found

    def stop_listening(self) -> None:
        """End the stream: the listener forgets it; the words heard stay in the list."""
        if self.listener is None:
            return
        seconds = self.listener.time
        self.listener.reset()
        self.listener, self.listening = None, False
        heard = len(self.detections)
        self.status = f"Stopped after {seconds:.1f} s: heard {heard} word{'s' * (heard != 1)}."

    def listen_file(self, path: str | Path, chunk_seconds: float = 0.1) -> list[dict]:
        """Listen to an audio file on the kernel's machine in chunks, as to the microphone; the words heard."""
        samples, sample_rate = read_audio(path)  # (channels, n); NaNs are refused there
        mono = samples.mean(dim=0).numpy().astype(np.float32)  # (n,)
        self.start_listening(sample_rate)
        step = max(1, round(chunk_seconds * sample_rate))
        for start in range(0, len(mono), step):
            self.hear(mono[start : start + step])
        self.stop_listening()
        self.status = f"{Path(path).name}: {self.status}"
        return list(self.detections)

    # -- Teach mode ----------------------------------------------------------------------------------

    def add_take(self, waveform: torch.Tensor, sample_rate: int, index: int | None = None) -> dict:
        """Keep a take of the new word (a recording ``(channels, n)`` at any rate) as take ``index``: a new
        one at the end (``None``, or the number of takes so far), or one recorded again in its place."""
        if not isinstance(self.model, EmbeddingClassifier):
            raise TypeError(self._needs_embedding("Teach"))  # before the user records five takes for nothing
        if index is None:
            index = len(self.recordings)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= len(self.recordings):
            raise ValueError(f"Teach mode: there is no take {index!r} to record (takes 0 to {len(self.recordings)})")
        if index == len(self.recordings) and index >= self.num_takes:
            raise ValueError(
                f"Teach mode: all {self.num_takes} takes are recorded: record one again or delete one "
                "(or raise num_takes)"
            )
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not 1000 <= sample_rate:
            raise ValueError(f"Teach mode: a sample rate of at least 1,000 Hz is needed, got {sample_rate!r}")
        name = f"take {index + 1}"
        check_samples(waveform.numpy(), name)  # NaN samples would teach the model NaN
        sample_rate = int(sample_rate)
        clip = prepare_recording(waveform, sample_rate)  # (1, 16000): the second enrolment keeps
        rms = float(clip.pow(2).mean().sqrt())
        loudness = round(max(20 * math.log10(rms), SILENT_DB) if rms > 0 else SILENT_DB, 1)  # dB below full scale
        take = {"index": index, "seconds": round(waveform.shape[-1] / sample_rate, 2), "loudness": loudness}
        shown = {**take, "audio": wav_bytes(clip)}
        if index == len(self.recordings):
            self.recordings.append((waveform, sample_rate))
            self.takes = [*self.takes, shown]
        else:
            self.recordings[index] = (waveform, sample_rate)
            self.takes = [shown if i == index else old for i, old in enumerate(self.takes)]
        silent = " It is silent: is the microphone muted?" if clip.abs().max() <= 1e-3 else ""
        self.error = ""
        self.status = (
            f"Take {index + 1} of {self.num_takes}: {take['seconds']:.2f} s at {sample_rate} Hz, "
            f"{loudness:.0f} dB.{silent}"
        )
        return take

    def take_file(self, path: str | Path, index: int | None = None) -> dict:
        """A take of the new word from an audio file on the kernel's machine (see :meth:`add_take`)."""
        samples, sample_rate = read_audio(path)
        return self.add_take(samples, sample_rate, index)

    def delete_take(self, index: int) -> None:
        """Forget take ``index``; the takes after it move up one place."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.recordings):
            raise ValueError(f"Teach mode: there is no take {index!r} to delete ({len(self.recordings)} takes)")
        del self.recordings[index]
        self.takes = [{**take, "index": i} for i, take in enumerate(t for t in self.takes if t["index"] != index)]
        self.error = ""
        self.status = f"Deleted take {index + 1}: {len(self.recordings)} of {self.num_takes} takes left."

    def enrol(self, word: str | None = None) -> tuple[torch.nn.Module, list[str]]:
        """Enrol ``word`` (default: the ``word`` typed in the widget) from the takes with
        :func:`speechlib.enrol.enrol`; the Recorder then uses the new model and labels (returned too), and
        saves them to ``save_path`` if one is set. The library's errors (too few takes, a silent one, a
        word the model knows, a bad name) are raised and shown in the widget; the takes stay."""
        self.error = ""  # first: the browser waits for the error to change or the words to
        from .enrol import enrol  # lazily: only Teach mode needs it

        word = self.word if word is None else word
        self.status = f"Learning {word!r} from {len(self.recordings)} takes..."
        names = [f"take {i + 1}" for i in range(len(self.recordings))]  # errors name the take to record again
        model, labels = enrol(self.model, self.labels, word, list(self.recordings), names=names)
        self.model, self.labels, word = model, list(labels), labels[-1]  # the word as enrolled (ends stripped)
        self.known_words = self.words
        taken = len(self.recordings)
        self.recordings, self.takes, self.word = [], [], ""  # learnt: ready for another word
        saved = ""
        if self.save_path:
            try:
                saved = f" Saved to {self.save(self.save_path)}."
            except OSError as error:  # the word is learnt all the same: say what was not done
                raise OSError(f"learnt {word!r}, but could not save the model to {self.save_path}: {error}") from error
        self.status = (
            f"Learnt {word!r} from {taken} takes: it now knows {len(self.words)} words.{saved} "
            "Say it in Record or Listen mode."
        )
        return self.model, self.labels

    def save(self, path: str | os.PathLike) -> Path:
        """Save the Recorder's model and labels (after :meth:`enrol`: with the new word) to ``path``,
        atomically (:func:`speechlib.enrol.save_enrolled`); ``speechlib.load_model(path)`` reads it back."""
        from .models import MODELS
        from .training import save_model

        if isinstance(self.model, EmbeddingClassifier):
            from .enrol import save_enrolled

            return save_enrolled(self.model, self.labels, path)
        name = next((name for name, kind in MODELS.items() if type(self.model) is kind), None)
        if name is None:
            raise TypeError(f"save: a {type(self.model).__name__} is not a model speechlib can save and load")
        return save_model(self.model, path, self.labels, name)

    # -- Messages from the browser -------------------------------------------------------------------

    def _on_message(self, widget, content: dict, buffers: list) -> None:
        # Messages from recorder.js:
        #   {"type": "recording", "sample_rate": 48000} + float32 samples (Record)
        #   {"type": "file", "name": "yes.wav"} + the file's bytes (Record)
        #   {"type": "listen_start", "sample_rate": 48000}, then {"type": "chunk"} + float32 samples, ...,
        #   then {"type": "listen_stop"} (Listen)
        #   {"type": "take", "index": 0, "sample_rate": 48000} + float32 samples: a take, new or recorded again,
        #   {"type": "delete_take", "index": 0}, {"type": "enrol", "word": "banana"} (Teach)
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "recording":
                samples = torch.from_numpy(_float32(buffers, "recording"))[None]  # (1, n)
                self.classify(samples, int(content["sample_rate"]), "recording")
            elif kind == "file":
                samples, sample_rate = decode_audio(bytes(_buffer(buffers, content["name"])), content["name"])
                self.classify(samples, sample_rate, content["name"])
            elif kind == "listen_start":
                self.start_listening(content.get("sample_rate"))
            elif kind == "chunk":
                if self.listener is None and self.error:
                    return  # chunks already on their way when listening failed: the error stays shown
                self.hear(_float32(buffers, "a chunk of the microphone stream"))
            elif kind == "listen_stop":
                self.stop_listening()
            elif kind == "take":
                samples = torch.from_numpy(_float32(buffers, f"take {_take_number(content)}"))[None]  # (1, n)
                self.add_take(samples, content.get("sample_rate"), content.get("index"))
            elif kind == "delete_take":
                self.delete_take(content.get("index"))
            elif kind == "enrol":
                word = content.get("word")
                if isinstance(word, str):
                    self.word = word
                self.enrol()
            else:
                raise ValueError(f"the Recorder got a message it does not know: {content!r}")
        except DataError as error:  # a bad file or recording: its own message says what is wrong
            self._show_error(str(error))
        except Exception as error:  # noqa: BLE001 (anything else would vanish into the kernel log: show it)
            self._show_error(f"{type(error).__name__}: {error}")

    def _show_error(self, message: str) -> None:
        self.top3 = []
        self.verdict = ""
        self.error = message
        if self.listener is not None or self.mode == "listen":
            if self.listener is not None:
                self.listener.reset()
            self.listener, self.listening = None, False
            self.send({"type": "stop"})  # the browser stops the microphone


def _take_number(content: dict):
    index = content.get("index")
    return index + 1 if isinstance(index, int) and not isinstance(index, bool) else index


def _buffer(buffers: list, what: str) -> memoryview:
    if not buffers:
        raise ValueError(f"{what}: the message came without its data")
    return memoryview(buffers[0]).cast("B")


def _float32(buffers: list, what: str) -> np.ndarray:
    """A message's binary buffer as float32 samples ``(n,)``; a clear error if it cannot be one."""
    data = _buffer(buffers, what)
    if data.nbytes % 4:
        raise ValueError(f"{what}: {data.nbytes} bytes is not a whole number of float32 samples")
    return np.frombuffer(data, dtype=np.float32).copy()  # writable: torch refuses read-only arrays
