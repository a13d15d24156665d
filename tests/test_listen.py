"""speechlib.listen: the streaming listener against the whole recording computed at once, the detector's
averaging, threshold and suppression, and ``speechlib listen``."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

import speechlib
from speechlib import listen
from speechlib.data import BUNDLED_ROOT, DataError, read_clip, read_split_list
from speechlib.listen import Detection, Detector, Listener, detect, stream_posteriors

TOLERANCE = 1e-4  # float32 convolutions over inputs of other lengths sum in another order: ~1e-6 seen


@pytest.fixture(scope="module")
def shipped():
    return speechlib.load_model(speechlib.DEFAULT_MODEL)


def _testing_clip(word: str, index: int = 0) -> np.ndarray:
    files = sorted(f for f in read_split_list(BUNDLED_ROOT, "testing") if f.startswith(f"{word}/"))
    return read_clip(BUNDLED_ROOT / files[index])[0].numpy()


@pytest.fixture(scope="module")
def stream() -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Three words of testing speakers (never trained on), 1.2 s of quiet noise before each."""
    rng = np.random.default_rng(0)
    parts, truth, position = [], [], 0
    for word in ("yes", "stop", "left"):
        gap = (0.003 * rng.standard_normal(19200)).astype(np.float32)
        clip = _testing_clip(word)
        parts += [gap, clip]
        position += len(gap) + len(clip)
        truth.append((word, position / 16000))  # the clip's end
    parts.append((0.003 * rng.standard_normal(16000)).astype(np.float32))
    return np.concatenate(parts), truth


def test_stream_posteriors_are_probabilities_every_80_ms(shipped, stream):
    model, labels = shipped
    times, probabilities = stream_posteriors(model, stream[0])
    assert probabilities.shape == (len(times), len(labels))
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(np.diff(times), 0.08)
    assert times[-1] <= len(stream[0]) / 16000


@pytest.mark.parametrize("chunk", ["random", 160, 16000 * 4])
def test_streaming_gives_the_posteriors_of_the_whole_recording(shipped, stream, chunk):
    model, labels = shipped
    times, probabilities = stream_posteriors(model, stream[0])
    listener = Listener(model, labels, history_seconds=60)
    rng = np.random.default_rng(1)
    position = 0
    while position < len(stream[0]):
        size = int(rng.integers(1, 6000)) if chunk == "random" else chunk
        listener.feed(stream[0][position : position + size])
        position += size
    streamed_times = np.array([row[0] for row in listener.history])
    streamed = np.stack([row[1] for row in listener.history])
    assert np.array_equal(streamed_times, times)
    assert np.abs(streamed - probabilities).max() < TOLERANCE


def test_the_listener_hears_the_words_in_order(shipped, stream):
    model, labels = shipped
    listener = Listener(model, labels, threshold=0.5)
    heard = []
    for start in range(0, len(stream[0]), 1600):  # 100 ms chunks, as a microphone gives them
        heard += listener.feed(stream[0][start : start + 1600])
    assert [detection.word for detection in heard] == [word for word, _ in stream[1]]
    for detection, (_, end) in zip(heard, stream[1]):
        assert -0.5 < detection.time - end < 1.0, (detection, end)  # reported around the end of the word
    assert listener.time == pytest.approx(len(stream[0]) / 16000)


def test_other_rates_and_channels_are_converted(shipped, stream):
    import soxr

    model, labels = shipped
    at_44k = soxr.resample(stream[0], 16000, 44100).astype(np.float32)
    stereo = np.stack([at_44k, at_44k])  # (2, n)
    listener = Listener(model, labels, sample_rate=44100, threshold=0.5)
    heard = []
    for start in range(0, stereo.shape[1], 4410):
        heard += listener.feed(stereo[:, start : start + 4410])
    assert [detection.word for detection in heard] == [word for word, _ in stream[1]]


def test_a_read_only_chunk_is_copied_not_warned_about(shipped, stream):
    model, labels = shipped
    read_only = np.frombuffer(stream[0][:16000].tobytes(), dtype=np.float32)  # as a widget's message buffer arrives
    assert not read_only.flags.writeable
    listener = Listener(model, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch warns when it wraps a read-only array
        listener.feed(read_only)
    assert listener.time == pytest.approx(1.0)


def test_silence_and_noise_are_never_reported(shipped):
    model, labels = shipped
    rng = np.random.default_rng(2)
    quiet = np.concatenate([np.zeros(32000), 0.01 * rng.standard_normal(5 * 16000)]).astype(np.float32)
    assert Listener(model, labels, threshold=0.3).feed(quiet) == []


def test_the_detector_averages_thresholds_and_suppresses():
    labels = ["yes", "no", "_silence_"]
    spike = [np.array([0.0, 0.0, 1.0])] * 5 + [np.array([0.9, 0.05, 0.05])] + [np.array([0.0, 0.0, 1.0])] * 5
    times = np.arange(len(spike)) * 0.08
    assert detect(times, spike, labels, threshold=0.5, average_seconds=0.0) == [Detection("yes", 0.4, 0.9)]
    assert detect(times, spike, labels, threshold=0.5, average_seconds=0.4) == []  # one window: averaged away
    held = [np.array([0.8, 0.1, 0.1])] * 30  # 2.4 s of "yes"
    held_times = np.arange(30) * 0.08
    reports = detect(held_times, held, labels, threshold=0.5, average_seconds=0.0, suppress_seconds=1.0)
    assert [detection.time for detection in reports] == [0.0, 1.04, 2.08]
    assert len(detect(held_times, held, labels, threshold=0.5, average_seconds=0.0, suppress_seconds=0.0)) == 30
    silence = [np.array([0.05, 0.05, 0.9])] * 10
    assert detect(np.arange(10) * 0.08, silence, labels, threshold=0.5) == []  # _silence_ is never a word


@pytest.mark.parametrize("settings", [{"threshold": 0}, {"threshold": 1.5}, {"average_seconds": -1}])
def test_the_detector_refuses_settings_out_of_range(settings):
    with pytest.raises(ValueError):
        Detector(["yes"], **settings)


def test_bad_input_gets_a_clear_error(shipped):
    model, labels = shipped
    listener = Listener(model, labels)
    with pytest.raises(DataError, match="NaN or infinite"):
        listener.feed(np.full(1000, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected samples \(n,\) or \(channels, n\)"):
        listener.feed(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="labels for a model"):
        Listener(model, labels[:3])
    cnn, cnn_labels = speechlib.load_model(speechlib.data.REPO_DIR / "models" / "cnn.pt")
    with pytest.raises(TypeError, match="needs a model built on the speech embedding"):
        Listener(cnn, cnn_labels)


def test_listen_file_reads_in_blocks(shipped, stream, tmp_path):
    model, labels = shipped
    path = tmp_path / "three words.wav"
    sf.write(path, np.stack([stream[0], stream[0]], axis=1), 16000)  # stereo
    detections, seconds = listen.listen_file(path, model, labels, threshold=0.5)
    assert [detection.word for detection in detections] == ["yes", "stop", "left"]
    assert seconds == pytest.approx(len(stream[0]) / 16000)
    (tmp_path / "empty.wav").write_bytes(b"RIFF")
    with pytest.raises(DataError, match="empty.wav: not a readable audio file"):
        listen.listen_file(tmp_path / "empty.wav", model, labels)


def test_the_example_recording_is_heard_at_the_default_settings(shipped):
    # data/examples/words.wav (tools/make_example_stream.py): the README's `speechlib listen` example
    model, labels = shipped
    example = speechlib.data.REPO_DIR / "data" / "examples" / "words.wav"
    truth = json.loads(example.with_suffix(".json").read_text())["words"]
    detections, seconds = listen.listen_file(example, model, labels)
    assert seconds == pytest.approx(sf.info(example).duration)
    matched = []
    for detection in detections:  # every word reported is one said just before (no false alarm, no wrong word)
        said = [t for t in truth if t["start"] <= detection.time <= t["end"] + 1.5 and t not in matched]
        assert said and said[0]["word"] == detection.word, (detection, truth)
        matched.append(said[0])
    assert len(matched) >= 0.75 * len(truth), f"heard {len(matched)} of the example's {len(truth)} words"


@pytest.mark.slow  # starts a process
def test_speechlib_listen_prints_and_writes_json(stream, tmp_path):
    path = tmp_path / "words.flac"
    sf.write(path, stream[0], 16000)
    out = tmp_path / "heard.json"
    command = [sys.executable, "-m", "speechlib", "listen", str(path), "--threshold", "0.5", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[2] for line in lines] == ["yes", "stop", "left"]
    content = json.loads(out.read_text())
    assert [d["word"] for d in content["detections"]] == ["yes", "stop", "left"]
    assert [round(d["time"], 2) for d in content["detections"]] == [float(line.split()[0]) for line in lines]
    missing = subprocess.run(
        [sys.executable, "-m", "speechlib", "listen", str(tmp_path / "nothing.wav")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "nothing.wav: no such audio file" in missing.stderr


def test_window_times_follow_the_frames():
    # window 0 ends with frame 75, which ends at sample 75 * 160 + 512
    assert listen.window_time(0) == pytest.approx((75 * 160 + 512) / 16000)
    assert listen.window_time(10) - listen.window_time(9) == pytest.approx(0.08)


def test_the_head_bank_computes_each_heads_convolutions(shipped):
    # away from the edges, the heads' own (zero-padded) convolutions and the bank's unpadded ones agree
    model, _ = shipped
    for heads, dim in ((model.heads, 96), (model.inner_heads, 192)):
        bank = listen.HeadBank(heads)
        inputs = torch.randn(20, dim)  # (steps, dim)
        with torch.no_grad():
            expected = torch.cat([head.layers(inputs.T[None])[0, :, 2:-2] for head in heads])  # (3 width, 16)
            assert torch.allclose(bank.features(inputs), expected, atol=1e-5)
            assert torch.allclose(bank.step(1, bank.step(0, inputs.T[None]))[0], expected, atol=1e-4)
            pooled = expected[None]
            logits = [head.classifier(torch.cat([f.amax(1), f.mean(1)])) for head, f in zip(heads, pooled[0].chunk(3))]
            assert torch.allclose(bank.log_probs(pooled)[0], torch.stack(logits).log_softmax(1), atol=1e-5)
