"""Preparing your own recordings (notebook 10): resampling, centring, decoding, the widget's kernel half, and its
Listen mode (notebook 11): chunks of a stream in, detections and the rolling picture out."""

import io

import numpy as np
import pytest
import soundfile as sf
import torch
import traitlets

import speechlib
from speechlib import DataError
from speechlib.data import BUNDLED_ROOT, read_clip, read_split_list
from speechlib.listen import Listener
from speechlib.models import CNN
from speechlib.recorder import CURVE_WORDS, Recorder, classify_file, decode_audio, plot_clip, prepare_recording, top_k
from speechlib.transforms import center_on_loudest

LABELS = [f"word{i}" for i in range(35)]


def burst(length: int, start: int, width: int = 8000) -> torch.Tensor:
    """Silence with a loud noise burst at ``start``: a stand-in for a word. ``(1, length)``.

    8000 samples is center_on_loudest's 0.5 s window: exactly one window position holds it all.
    """
    waveform = torch.zeros(1, length)
    waveform[0, start : start + width] = 0.5 * torch.randn(width, generator=torch.Generator().manual_seed(0))
    return waveform


def test_center_on_loudest_puts_the_burst_in_the_middle():
    waveform = burst(48000, start=30000)  # burst centred at sample 34000
    clip = center_on_loudest(waveform, num_samples=16000)
    assert clip.shape == (1, 16000)
    # the kept second is [34000 - 8000, 34000 + 8000): the burst lands in the middle
    assert torch.equal(clip, waveform[:, 26000:42000])


def test_center_on_loudest_stays_inside_the_recording():
    waveform = burst(40000, start=0)  # loudest at the very start: the window cannot start before 0
    assert torch.equal(center_on_loudest(waveform, 16000), waveform[:, :16000])
    waveform = burst(40000, start=32000)  # ... nor end after the last sample
    assert torch.equal(center_on_loudest(waveform, 16000), waveform[:, -16000:])


def test_center_on_loudest_ignores_a_single_click():
    waveform = burst(48000, start=30000)
    waveform[0, 5000] = 3.0  # one sample far louder than the "word", but only for 1/16000 s
    clip = center_on_loudest(waveform, 16000)
    assert torch.equal(clip, waveform[:, 26000:42000])


def test_center_on_loudest_pads_short_recordings_on_both_sides():
    waveform = torch.ones(2, 10000)  # two channels: every channel is cut/padded alike
    clip = center_on_loudest(waveform, 16000)
    assert clip.shape == (2, 16000)
    assert clip[:, :3000].abs().sum() == 0 and clip[:, -3000:].abs().sum() == 0
    assert torch.equal(clip[:, 3000:13000], waveform)


def test_prepare_recording_resamples_48k_stereo_to_one_second_at_16k():
    tone_48k = torch.sin(2 * torch.pi * 440 * torch.arange(72000) / 48000)  # 1.5 s, 440 Hz
    stereo = torch.stack([tone_48k, tone_48k])  # (2, 72000)
    clip = prepare_recording(stereo, 48000)
    assert clip.shape == (1, 16000)
    # still a 440 Hz tone after resampling: the strongest FFT bin of 1 s at 16 kHz is bin 440
    assert int(torch.fft.rfft(clip[0]).abs().argmax()) == 440


def test_decode_audio_reads_wav_bytes_and_names_bad_data():
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((4800, 2), dtype=np.float32), 48000, format="WAV")
    waveform, sample_rate = decode_audio(buffer.getvalue(), "mine.wav")
    assert waveform.shape == (2, 4800) and sample_rate == 48000
    with pytest.raises(DataError, match="upload.wav: not a readable audio file"):
        decode_audio(b"not audio at all", "upload.wav")


def test_top_k_and_classify_file_agree(tmp_path):
    torch.manual_seed(0)
    model = CNN(num_classes=len(LABELS))
    waveform = burst(24000, start=9000)  # 1.5 s at 16 kHz
    path = tmp_path / "recording.wav"
    sf.write(path, waveform[0].numpy(), 16000)
    best = classify_file(path, model, LABELS)
    assert [word for word, _ in best] == [word for word, _ in top_k(model, center_on_loudest(waveform), LABELS)]
    probabilities = [p for _, p in best]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
    with pytest.raises(DataError, match="broken.wav"):
        (tmp_path / "broken.wav").write_bytes(b"RIFF....")
        classify_file(tmp_path / "broken.wav", model, LABELS)


def test_recorder_handles_a_browser_recording_and_a_bad_upload():
    torch.manual_seed(0)
    model = CNN(num_classes=len(LABELS))
    recorder = Recorder(model, LABELS)
    assert repr(recorder) == "Recorder(35 words, records 1.5 s)"  # deterministic: nbval compares it
    samples = burst(72000, start=40000)[0].numpy().astype(np.float32)  # what recorder.js sends: float32 PCM
    recorder._on_message(recorder, {"type": "recording", "sample_rate": 48000}, [memoryview(samples.tobytes())])
    expected = top_k(model, prepare_recording(torch.from_numpy(samples)[None], 48000), LABELS)
    assert [(item["word"], item["probability"]) for item in recorder.top3] == expected
    assert recorder.status.startswith("recording: 1.50 s at 48000 Hz") and recorder.error == ""
    assert recorder.image.startswith(b"\x89PNG") and recorder.audio.startswith(b"RIFF")
    assert sf.info(io.BytesIO(recorder.audio)).frames == 16000  # the player plays what the model heard

    broken = samples.copy()
    broken[100] = np.nan  # a broken microphone driver: no word comes out of NaN probabilities
    recorder._on_message(recorder, {"type": "recording", "sample_rate": 48000}, [memoryview(broken.tobytes())])
    assert recorder.top3 == [] and recorder.error == "recording: 1 of 72,000 samples are NaN or infinite, not sound"

    recorder._on_message(recorder, {"type": "file", "name": "notes.txt"}, [memoryview(b"hello")])
    assert recorder.top3 == [] and recorder.error.startswith("notes.txt: not a readable audio file")


def test_plot_clip_shows_what_the_model_hears(shipped):
    clip = burst(16000, start=4000)
    model, _ = shipped
    embedding_axes = plot_clip(clip, model=model).axes[1]  # waveform, spectrogram, colour bar
    assert embedding_axes.get_title() == "what the model hears (dB, 60-3,800 Hz)"
    assert embedding_axes.get_ylabel() == "32 mel bands (Hz)"
    assert embedding_axes.get_ylim() == (0, 32)
    ticks = [float(tick.get_text().replace(",", "")) for tick in embedding_axes.get_yticklabels()]
    assert 60 <= ticks[0] < ticks[-1] <= 3800, ticks  # labelled in Hz inside the front end's range
    cnn_axes = plot_clip(clip, model=CNN(num_classes=35)).axes[1]
    assert cnn_axes.get_title() == "what the CNN hears (dB, 0-8,000 Hz)" and cnn_axes.get_ylim() == (0, 40)
    assert cnn_axes.get_ylabel() == "40 mel bands (Hz)"
    with pytest.raises(ValueError, match="16000 Hz clips"):
        plot_clip(torch.zeros(1, 48000), 48000, model=model)


# -- Listen mode ---------------------------------------------------------------------------------------

LISTEN_RATE = 48000  # what recorder.js sends: the sound card's rate
STREAM_WORDS = ["yes", "stop", "left"]


@pytest.fixture(scope="module")
def shipped():
    return speechlib.load_model(speechlib.DEFAULT_MODEL)


@pytest.fixture(scope="module")
def stream_48k() -> np.ndarray:
    """STREAM_WORDS by testing speakers (never trained on), 1.2 s of quiet noise before each, at 48 kHz ``(n,)``:
    tests/test_listen.py's stream, which the listener hears in order at threshold 0.5."""
    import soxr

    rng = np.random.default_rng(0)
    testing = sorted(read_split_list(BUNDLED_ROOT, "testing"))
    parts = []
    for word in STREAM_WORDS:
        clip = read_clip(BUNDLED_ROOT / next(name for name in testing if name.startswith(f"{word}/")))[0].numpy()
        parts += [(0.003 * rng.standard_normal(19200)).astype(np.float32), clip]
    parts.append((0.003 * rng.standard_normal(16000)).astype(np.float32))
    return soxr.resample(np.concatenate(parts), 16000, LISTEN_RATE).astype(np.float32)


def chunk_message(samples: np.ndarray) -> tuple[dict, list]:
    return {"type": "chunk"}, [memoryview(samples.astype(np.float32).tobytes())]


def test_listen_mode_shows_the_words_of_a_stream_in_order(shipped, stream_48k):
    model, labels = shipped
    recorder = Recorder(model, labels, mode="listen", threshold=0.5)
    assert repr(recorder) == "Recorder(35 words, listens continuously)"  # deterministic: notebook 11 shows it
    assert recorder.status.startswith("Press Listen") and recorder.error == ""
    recorder._on_message(recorder, {"type": "listen_start", "sample_rate": LISTEN_RATE}, [])
    assert recorder.listening and recorder.status.startswith("Listening at 48000 Hz")
    reference = Listener(model, labels, sample_rate=LISTEN_RATE, threshold=0.5)  # fed the same chunks directly
    expected, seen = [], []
    for start in range(0, len(stream_48k), 4800):  # 0.1 s chunks, as recorder.js sends them
        chunk = stream_48k[start : start + 4800]
        recorder._on_message(recorder, *chunk_message(chunk))
        expected += [detection.as_dict() for detection in reference.feed(chunk)]
        assert recorder.detections == expected  # each word appears as soon as it is heard, in order
        seen.append(recorder.curves)
    assert [detection["word"] for detection in recorder.detections] == STREAM_WORDS
    assert recorder.error == "" and recorder.status.startswith("Heard 'left' at")

    picture = recorder.curves  # the last 5 s, the most probable words of them
    times = np.array(picture["times"])
    assert times[-1] == pytest.approx(reference.history[-1][0]) and times[-1] - times[0] < picture["seconds"]
    assert np.allclose(np.diff(times), 0.08) and picture["threshold"] == 0.5
    rows = [row for row in reference.history if row[0] > times[-1] - picture["seconds"]]
    averaged = np.stack([row[2] for row in rows])  # (steps, classes)
    words = [labels[i] for i in np.argsort(-averaged.max(axis=0)) if not labels[i].startswith("_")][:CURVE_WORDS]
    assert [curve["word"] for curve in picture["words"]] == words
    for curve in picture["words"]:
        assert np.allclose(curve["values"], averaged[:, labels.index(curve["word"])], atol=5e-4)  # rounded to 3
    assert "left" in [curve["word"] for curve in picture["words"]]  # the last word heard is in the picture
    assert all(len(frame["times"]) <= 63 for frame in seen)  # never more than 5 s of rows

    recorder._on_message(recorder, {"type": "listen_stop"}, [])
    assert not recorder.listening and recorder.listener is None
    assert recorder.status == f"Stopped after {len(stream_48k) / LISTEN_RATE:.1f} s: heard 3 words."
    assert [detection["word"] for detection in recorder.detections] == STREAM_WORDS  # the list stays

    # a new stream starts again at 0 s with an empty list
    recorder._on_message(recorder, {"type": "listen_start", "sample_rate": LISTEN_RATE}, [])
    assert recorder.detections == [] and recorder.listener.time == 0


def test_listen_file_hears_what_a_listener_hears(shipped, stream_48k, tmp_path):
    model, labels = shipped
    path = tmp_path / "words.wav"
    sf.write(path, np.stack([stream_48k, stream_48k], axis=1), LISTEN_RATE)  # stereo: channels averaged
    recorder = Recorder(model, labels, mode="listen", threshold=0.5)
    heard = recorder.listen_file(path)
    assert [detection["word"] for detection in heard] == STREAM_WORDS and heard == recorder.detections
    assert recorder.status.startswith("words.wav: Stopped after") and not recorder.listening


def test_listen_mode_bad_messages_get_clear_errors(shipped, stream_48k):
    model, labels = shipped
    recorder = Recorder(model, labels, mode="listen")
    recorder._on_message(recorder, *chunk_message(stream_48k[:4800]))
    assert (
        recorder.error == "ValueError: Listen mode: sound arrived, but listening has not started (listen_start first)"
    )

    for rate in (None, "fast", 0, True):
        recorder._on_message(recorder, {"type": "listen_start", "sample_rate": rate}, [])
        assert recorder.error.startswith("ValueError: Listen mode: a sample rate between 1,000 and 768,000 Hz")
        assert not recorder.listening

    start = {"type": "listen_start", "sample_rate": LISTEN_RATE}
    bad = [
        ([memoryview(b"abc")], "a chunk of the microphone stream: 3 bytes is not a whole number of float32 samples"),
        ([], "a chunk of the microphone stream: the message came without its data"),
    ]
    for buffers, message in bad:
        recorder._on_message(recorder, start, [])
        assert recorder.listening and recorder.error == ""
        recorder._on_message(recorder, {"type": "chunk"}, buffers)
        assert recorder.error == f"ValueError: {message}" and not recorder.listening and recorder.listener is None
        recorder._on_message(recorder, *chunk_message(stream_48k[:4800]))  # chunks already on their way
        assert recorder.error == f"ValueError: {message}"  # ... do not hide what went wrong

    recorder._on_message(recorder, start, [])
    broken = stream_48k[:4800].copy()
    broken[7] = np.inf  # a broken microphone driver
    recorder._on_message(recorder, *chunk_message(broken))
    assert "1 of 4,800 samples are NaN or infinite" in recorder.error and not recorder.listening

    recorder._on_message(recorder, {"type": "sing"}, [])
    assert recorder.error == "ValueError: the Recorder got a message it does not know: {'type': 'sing'}"


def test_listen_mode_needs_a_model_on_the_speech_embedding():
    recorder = Recorder(CNN(num_classes=len(LABELS)), LABELS, mode="listen")
    assert (
        recorder.error == "Listen mode needs a model on the speech embedding (such as models/transfer.pt), not a CNN."
    )
    recorder._on_message(recorder, {"type": "listen_start", "sample_rate": LISTEN_RATE}, [])
    assert recorder.error.startswith("TypeError: listening needs a model built on the speech embedding")
    assert not recorder.listening
    recorder.mode = "record"  # Record mode works with any model
    assert recorder.error == "" and repr(recorder) == "Recorder(35 words, records 1.5 s)"
    with pytest.raises(traitlets.TraitError):
        Recorder(CNN(num_classes=len(LABELS)), LABELS, mode="sing")


def test_leaving_listen_mode_stops_listening(shipped):
    model, labels = shipped
    recorder = Recorder(model, labels, mode="listen")
    recorder._on_message(recorder, {"type": "listen_start", "sample_rate": 16000}, [])
    recorder._on_message(recorder, *chunk_message(np.zeros(16000)))
    recorder.mode = "record"
    assert not recorder.listening and recorder.listener is None
    assert recorder.status.startswith("Press the button and say one of:")
