"""Data augmentation: new training clips from old ones, made fresh for every batch. Taught in notebook 08.

A model sees each training clip many times; augmentation makes every look a little different, so
the model learns what stays the same (the word) and not what happens to come with it (where the
word sits in the clip, how quiet the room was, how fast this speaker talks). Everything here works
on whole batches, on the batch's device, and draws its randomness from ``generator`` (a
``torch.Generator``) or, when that is ``None``, from the global seed (``torch.manual_seed``).

Two places, two kinds:

- on the waveform ``(batch, 1, 16000)``: :func:`time_shift`, :func:`mix_background_noise`,
  :func:`speed_perturb`, :func:`add_reverb`, together in :class:`WaveformAugment`;
- on the log-mel image ``(batch, 1, n_mels, frames)``: :class:`SpecAugment` (torchaudio's
  ``FrequencyMasking`` and ``TimeMasking``), which the CNN applies inside ``forward``.

Both are ``nn.Module`` s that change nothing in eval mode, so the same model evaluates on clean clips.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchaudio.functional as AF
import torchaudio.transforms as T
from torch import nn

from .data import NOISE_FOLDER, SAMPLE_RATE, DataError, noise_files, read_clip


def _uniform(low: float, high: float, size: int, generator, device) -> torch.Tensor:
    """``size`` numbers uniform in [low, high), drawn from ``generator``'s device, moved to ``device``."""
    where = generator.device if generator is not None else device
    return (low + (high - low) * torch.rand(size, generator=generator, device=where)).to(device)


def _randint(high: int, size: int, generator, device) -> torch.Tensor:
    """``size`` integers in [0, high), like ``torch.randint`` but on ``generator``'s device first."""
    where = generator.device if generator is not None else device
    return torch.randint(high, (size,), generator=generator, device=where).to(device)


def time_shift(waveforms: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Move each clip by its own random number of samples in [-max_shift, max_shift]; the samples
    pushed out are lost and the gap is silence (zeros). Taught in notebook 08.

    ``(batch, 1, n) -> (batch, 1, n)``. A CNN should not care when the word starts; this shows it
    the same word at many start times.
    """
    batch, _, num_samples = waveforms.shape
    shifts = _randint(2 * max_shift + 1, batch, generator, waveforms.device) - max_shift  # (batch,)
    source = (
        torch.arange(num_samples, device=waveforms.device) - shifts[:, None]
    )  # (batch, n): where each sample comes from
    inside = (source >= 0) & (source < num_samples)
    shifted = waveforms.gather(2, source.clamp(0, num_samples - 1).unsqueeze(1))  # (batch, 1, n)
    return shifted * inside.unsqueeze(1)


def load_noise(root: str | os.PathLike) -> torch.Tensor:
    """The recordings in ``root/_background_noise_`` as one tensor ``(num_noises, samples)``, each
    cut to the length of the shortest. Taught in notebook 08.

    Raises :class:`speechlib.DataError` naming the folder when it holds no audio file.
    """
    paths = noise_files(root)
    if not paths:
        raise DataError(f"{Path(root) / NOISE_FOLDER}: no background noise recordings (.wav/.flac) found")
    noises = [read_clip(p)[0] for p in paths]  # each (samples,)
    shortest = min(len(n) for n in noises)
    return torch.stack([n[:shortest] for n in noises])  # (num_noises, shortest)


def rms(waveforms: torch.Tensor) -> torch.Tensor:
    """Root mean square (loudness) of each clip: ``(batch, 1, n) -> (batch,)``."""
    return waveforms.pow(2).mean(dim=(1, 2)).sqrt()


def mix_background_noise(
    waveforms: torch.Tensor,
    noise: torch.Tensor,
    snr_db: tuple[float, float] = (5.0, 25.0),
    probability: float = 0.8,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Add a random stretch of a random background recording to each clip, at a random
    signal-to-noise ratio (SNR) in ``snr_db``. Taught in notebook 08.

    ``(batch, 1, n) -> (batch, 1, n)``; ``noise`` is ``(num_noises, samples)`` from :func:`load_noise`.
    SNR is measured on whole clips: ``10 * log10(clip power / noise power)``, so 20 dB means the noise
    has a tenth of the clip's RMS. A share ``1 - probability`` of clips stays clean.
    """
    batch, _, num_samples = waveforms.shape
    device = waveforms.device
    noise = noise.to(device)
    if noise.shape[1] < num_samples:
        raise ValueError(f"noise recordings have {noise.shape[1]} samples, fewer than a clip ({num_samples})")
    which = _randint(noise.shape[0], batch, generator, device)  # (batch,)
    start = _randint(noise.shape[1] - num_samples + 1, batch, generator, device)  # (batch,)
    positions = start[:, None] + torch.arange(num_samples, device=device)  # (batch, n)
    segments = noise[which[:, None], positions].unsqueeze(1)  # (batch, 1, n)
    snr = _uniform(snr_db[0], snr_db[1], batch, generator, device)  # (batch,)
    apply = _uniform(0.0, 1.0, batch, generator, device) < probability
    # scale the noise so that clip_rms / noise_rms = 10^(snr / 20)
    scale = rms(waveforms) / rms(segments).clamp_min(1e-8) * 10 ** (-snr / 20) * apply  # (batch,)
    return waveforms + segments * scale[:, None, None]


def change_speed(waveforms: torch.Tensor, speed: float) -> torch.Tensor:
    """Play ``speed`` times faster (and higher), like a tape: resample and keep the sample rate.
    ``(..., n) -> (..., about n / speed)``; the speed is rounded so the new rate is a multiple of 100 Hz."""
    orig_freq = round(SAMPLE_RATE * speed / 100) * 100  # multiples of 100 Hz keep the filter small
    return AF.resample(waveforms, orig_freq, SAMPLE_RATE)


def speed_perturb(
    waveforms: torch.Tensor, speeds: tuple[float, ...] = (0.9, 1.0, 1.1), generator: torch.Generator | None = None
) -> torch.Tensor:
    """Play each clip at a speed picked from ``speeds``, like a tape: 1.1 is 10% faster *and* higher.
    Taught in notebook 08.

    ``(batch, 1, n) -> (batch, 1, n)``: a faster clip is padded with silence on both sides, a slower
    one loses its ends equally, so the word stays where it was. Clips sharing a speed are resampled
    together (torchaudio's ``resample``), one call per speed.
    """
    batch, _, num_samples = waveforms.shape
    choice = _randint(len(speeds), batch, generator, waveforms.device)  # (batch,)
    out = waveforms.clone()
    for i, speed in enumerate(speeds):
        rows = (choice == i).nonzero().squeeze(1)
        if speed == 1.0 or len(rows) == 0:
            continue
        played = change_speed(waveforms[rows], speed)  # (rows, 1, about n / speed)
        out[rows] = _center(played, num_samples)
    return out


def _center(waveforms: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Zero-pad or cut both ends equally to ``num_samples``."""
    extra = waveforms.shape[-1] - num_samples
    if extra >= 0:
        return waveforms[..., extra // 2 : extra // 2 + num_samples]
    return nn.functional.pad(waveforms, (-extra // 2, -extra - (-extra // 2)))


def add_reverb(
    waveforms: torch.Tensor,
    decay_ms: tuple[float, float] = (10.0, 80.0),
    wet: tuple[float, float] = (0.1, 0.5),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A small random room per clip: convolve with decaying noise (an impulse response), then mix
    ``wet`` of that with the dry clip. Taught in notebook 08.

    ``(batch, 1, n) -> (batch, 1, n)``; the loudness (RMS) of each clip is kept.
    """
    batch = waveforms.shape[0]
    device = waveforms.device
    taps = int(SAMPLE_RATE * decay_ms[1] / 1000 * 4)  # long enough for the slowest decay to fade by ~35 dB
    decay = _uniform(decay_ms[0], decay_ms[1], batch, generator, device) / 1000  # (batch,) seconds
    seconds = torch.arange(taps, device=device) / SAMPLE_RATE  # (taps,)
    where = generator.device if generator is not None else device
    impulse = torch.randn(batch, 1, taps, generator=generator, device=where).to(device)
    impulse = impulse * torch.exp(-seconds / decay[:, None]).unsqueeze(1)  # (batch, 1, taps)
    impulse = impulse / impulse.abs().sum(dim=2, keepdim=True)
    reverberant = _convolve(waveforms, impulse)  # (batch, 1, n)
    mix = _uniform(wet[0], wet[1], batch, generator, device)[:, None, None]
    mixed = (1 - mix) * waveforms + mix * reverberant
    return mixed * (rms(waveforms) / rms(mixed).clamp_min(1e-8))[:, None, None]  # as loud as before


def _convolve(waveforms: torch.Tensor, impulse: torch.Tensor) -> torch.Tensor:
    """Convolution by FFT, cut to the clip's length. The FFT length is a power of two: torchaudio's
    ``fftconvolve`` uses ``n + taps - 1``, whose large prime factors make the FFT several times slower."""
    num_samples = waveforms.shape[-1]
    size = 1 << (num_samples + impulse.shape[-1] - 2).bit_length()  # next power of two >= n + taps - 1
    spectrum = torch.fft.rfft(waveforms, n=size) * torch.fft.rfft(impulse, n=size)
    return torch.fft.irfft(spectrum, n=size)[..., :num_samples]


class WaveformAugment(nn.Module):
    """Speed, reverb, time shift and background noise on a batch of clips, in training mode only.
    Taught in notebook 08.

    Give it to :func:`speechlib.fit` as ``TrainConfig(augment=WaveformAugment(noise))``: fit runs it
    on every training batch, on the model's device, in front of the model, and never on validation
    clips; each process of a distributed run draws its own changes (fit seeds torch with seed + rank),
    and the noise stays out of DistributedDataParallel (which wraps the model only). In eval mode it
    changes nothing. It has no weights, so saving the model alone loses nothing. Set an argument to
    ``None`` (``noise``, ``speeds``, ``reverb_probability=0``) to leave that step out.
    """

    def __init__(
        self,
        noise: torch.Tensor | None = None,
        max_shift: int | None = SAMPLE_RATE // 10,
        snr_db: tuple[float, float] = (5.0, 25.0),
        noise_probability: float = 0.6,
        speeds: tuple[float, ...] | None = (0.9, 1.0, 1.1),
        reverb_probability: float = 0.3,
    ):
        super().__init__()
        # a buffer follows .to(device); persistent=False keeps it out of state_dict
        self.register_buffer("noise", noise, persistent=False)
        self.max_shift, self.snr_db, self.noise_probability = max_shift, snr_db, noise_probability
        self.speeds, self.reverb_probability = speeds, reverb_probability

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return waveforms
        if self.speeds:
            waveforms = speed_perturb(waveforms, self.speeds)
        if self.reverb_probability > 0:
            chosen = (
                (torch.rand(len(waveforms), device=waveforms.device) < self.reverb_probability).nonzero().squeeze(1)
            )
            if len(chosen):
                waveforms = waveforms.index_copy(0, chosen, add_reverb(waveforms[chosen]))  # only the chosen clips
        if self.max_shift:
            waveforms = time_shift(waveforms, self.max_shift)
        if self.noise is not None:
            waveforms = mix_background_noise(waveforms, self.noise, self.snr_db, self.noise_probability)
        return waveforms

    def extra_repr(self) -> str:
        noises = 0 if self.noise is None else len(self.noise)
        return (
            f"speeds={self.speeds}, reverb_probability={self.reverb_probability}, max_shift={self.max_shift}, "
            f"noises={noises}, snr_db={self.snr_db}, noise_probability={self.noise_probability}"
        )


class SpecAugment(nn.Module):
    """SpecAugment's masking (Park et al., 2019) with torchaudio: blank out random bands of mel
    channels and random stretches of frames, in training mode only. Taught in notebook 08.

    ``(batch, 1, n_mels, frames) -> same shape``. Each clip gets its own masks (``iid_masks``);
    masked values become 0, the mean of a normalised log-mel image.
    """

    def __init__(self, freq_mask: int = 6, time_mask: int = 5, num_masks: int = 2):
        super().__init__()
        masks = []
        for _ in range(num_masks):
            masks += [T.FrequencyMasking(freq_mask, iid_masks=True), T.TimeMasking(time_mask, iid_masks=True)]
        self.masks = nn.Sequential(*masks)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return features
        return self.masks(features)
