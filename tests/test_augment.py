"""speechlib.augment: every augmentation keeps shapes, does what it says (measured), and is off in eval mode."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from speechlib import augment
from speechlib.data import DataError
from speechlib.models import CNN


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def tone(frequency, batch=4, num_samples=16000):
    t = torch.arange(num_samples) / 16000
    return (0.3 * torch.sin(2 * math.pi * frequency * t)).repeat(batch, 1, 1)  # (batch, 1, n)


def dominant_frequency(waveform):
    spectrum = torch.fft.rfft(waveform.flatten()).abs()
    return float(spectrum.argmax()) * 16000 / waveform.numel()


def test_time_shift_moves_each_clip_and_fills_with_silence():
    waveforms = torch.zeros(8, 1, 16000)
    waveforms[:, 0, 8000] = 1.0  # a click in the middle of every clip
    shifted = augment.time_shift(waveforms, max_shift=1600, generator=seeded())
    assert shifted.shape == waveforms.shape and shifted.dtype == waveforms.dtype
    positions = shifted[:, 0].argmax(dim=1) - 8000
    assert positions.abs().max() <= 1600
    assert len(set(positions.tolist())) > 1  # clips get their own shifts
    assert torch.equal(shifted.sum(dim=2), torch.ones(8, 1))  # the click moved, nothing else appeared


def test_time_shift_keeps_the_samples_in_order():
    waveforms = torch.arange(1, 101, dtype=torch.float32).repeat(3, 1, 1)  # (3, 1, 100)
    shifted = augment.time_shift(waveforms, max_shift=10, generator=seeded(1))
    for row in shifted[:, 0]:
        kept = row[row != 0]
        assert torch.equal(kept, torch.arange(kept[0], kept[0] + len(kept)))  # a contiguous run
        assert len(kept) >= 90


def test_mix_background_noise_reaches_the_requested_snr():
    waveforms = tone(440, batch=16)
    noise = torch.randn(3, 40000)
    noisy = augment.mix_background_noise(waveforms, noise, snr_db=(10.0, 10.0), probability=1.0, generator=seeded())
    assert noisy.shape == waveforms.shape and noisy.dtype == torch.float32
    added = noisy - waveforms
    measured = 10 * torch.log10(waveforms.pow(2).mean(dim=(1, 2)) / added.pow(2).mean(dim=(1, 2)))
    assert torch.allclose(measured, torch.full((16,), 10.0), atol=1e-3)


def test_mix_background_noise_spreads_snr_and_leaves_some_clean():
    waveforms = tone(440, batch=200)
    noise = torch.randn(2, 20000)
    noisy = augment.mix_background_noise(waveforms, noise, snr_db=(0.0, 20.0), probability=0.5, generator=seeded())
    added = (noisy - waveforms).pow(2).mean(dim=(1, 2))
    clean = added == 0
    assert 60 < clean.sum() < 140  # about half
    snr = 10 * torch.log10(waveforms.pow(2).mean(dim=(1, 2))[~clean] / added[~clean])
    assert snr.min() >= -1e-3 and snr.max() <= 20 + 1e-3 and snr.std() > 3


def test_mix_background_noise_rejects_noise_shorter_than_a_clip():
    with pytest.raises(ValueError, match="fewer than a clip"):
        augment.mix_background_noise(tone(440), torch.randn(1, 1000))


def test_speed_perturb_changes_pitch_and_keeps_length():
    waveforms = tone(400, batch=2)
    faster = augment.speed_perturb(waveforms, speeds=(1.25,), generator=seeded())
    assert faster.shape == waveforms.shape
    assert dominant_frequency(faster[0, :, 4000:12000]) == pytest.approx(500, abs=3)
    unchanged = augment.speed_perturb(waveforms, speeds=(1.0,), generator=seeded())
    assert torch.equal(unchanged, waveforms)


def test_speed_perturb_keeps_the_word_centred():
    waveforms = torch.zeros(1, 1, 16000)
    waveforms[0, 0, 7000:9000] = tone(300, batch=1, num_samples=2000)[0, 0]
    slower = augment.speed_perturb(waveforms, speeds=(0.8,), generator=seeded())
    loud = (slower[0, 0].abs() > 0.05).nonzero().flatten()
    assert abs((loud[0] + loud[-1]) / 2 - 8000) < 50
    assert loud[-1] - loud[0] == pytest.approx(2000 / 0.8, abs=30)  # 25% longer


def test_add_reverb_keeps_shape_and_loudness_and_adds_a_tail():
    waveforms = torch.zeros(4, 1, 16000)
    waveforms[:, 0, 1000:2000] = torch.randn(4, 1000)
    wet = augment.add_reverb(waveforms, wet=(0.5, 0.5), generator=seeded())
    assert wet.shape == waveforms.shape
    assert torch.allclose(augment.rms(wet), augment.rms(waveforms), rtol=0.3)
    assert wet[:, 0, 2000:2400].abs().mean() > 0.01  # the room rings on after the sound stops


def test_load_noise_stacks_trimmed_recordings_and_names_an_empty_folder(tmp_path):
    folder = tmp_path / "_background_noise_"
    folder.mkdir()
    with pytest.raises(DataError, match="_background_noise_"):
        augment.load_noise(tmp_path)
    sf.write(folder / "a.wav", np.full(20000, 0.25, np.float32), 16000, subtype="PCM_16")
    sf.write(folder / "b.flac", np.full(30000, -0.5, np.float32), 16000, subtype="PCM_16")
    noise = augment.load_noise(tmp_path)
    assert noise.shape == (2, 20000) and noise.dtype == torch.float32
    assert noise[0, 0] == 0.25 and noise[1, -1] == -0.5


def test_waveform_augment_is_off_in_eval_mode_and_seeded_in_training():
    waveforms = tone(440, batch=8)
    module = augment.WaveformAugment(noise=torch.randn(2, 20000))
    assert torch.equal(module.eval()(waveforms), waveforms)
    module.train()
    torch.manual_seed(0)
    first = module(waveforms)
    torch.manual_seed(0)
    again = module(waveforms)
    assert first.shape == waveforms.shape and not torch.equal(first, waveforms)
    assert torch.equal(first, again)  # the global seed decides everything
    assert "noise" not in module.state_dict()  # data, not weights: never saved with a model


def test_spec_augment_masks_whole_bands_and_frames_only_in_training():
    features = torch.ones(16, 1, 40, 101)
    masking = augment.SpecAugment(freq_mask=8, time_mask=20, num_masks=2)
    assert torch.equal(masking.eval()(features), features)
    torch.manual_seed(0)
    masked = masking.train()(features)
    assert masked.shape == features.shape
    assert set(masked.unique().tolist()) <= {0.0, 1.0}
    zero = masked == 0
    for clip in zero[:, 0]:
        rows = clip.all(dim=1)  # mel bands masked over every frame
        columns = clip.all(dim=0)  # frames masked over every band
        assert torch.equal(clip, rows[:, None] | columns[None, :])  # nothing masked but whole bands/frames
        assert rows.sum() <= 2 * 8 and columns.sum() <= 2 * 20
    assert zero.any(dim=(1, 2, 3)).float().mean() > 0.5  # most clips got a mask
    assert not torch.equal(zero[0], zero[1])  # each clip its own masks


def test_cnn_masks_in_training_but_evaluates_deterministically():
    torch.manual_seed(0)
    model = CNN(num_classes=5).eval()
    waveforms = torch.randn(3, 1, 16000)
    assert torch.equal(model(waveforms), model(waveforms))
    without = CNN(num_classes=5, spec_augment=False)
    without.load_state_dict(model.state_dict())  # SpecAugment adds no weights
    assert torch.equal(without.eval()(waveforms), model(waveforms))
