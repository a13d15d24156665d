"""Preparing your own recordings (notebook 07): resampling, centring, decoding, the widget's kernel half."""

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from speechlib import DataError
from speechlib.models import CNN
from speechlib.recorder import Recorder, classify_file, decode_audio, prepare_recording, top_k
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
