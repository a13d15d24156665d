"""The bundled synthetic Speech Commands set: many synthetic "speakers" saying the 35 words.

Used by every notebook when the real set (2.3 GB, ``speechlib download``) is not there.
Regenerate it with one command (see data/README.md for the apt-get line that installs the engines)::

    python tools/synth.py --out data/bundled
    python tools/synth.py --out data/extra_voices --seed 2 --speakers 80 --engines pico=0.4,mbrola=0.6

A *speaker* is a recipe: a TTS engine (espeak-ng, flite, festival; pico and mbrola for
``data/extra_voices``), a voice, a variant, pitch and rate, plus per-speaker effects (speed/pitch
shift, phone-like band-pass, reverb, level). Its id is 8 hex characters of the recipe's SHA-1, so the id says nothing but is stable. Every random choice
comes from a generator seeded by ``--seed`` (speakers) or by (seed, speaker, word, n) (clips), so
the output is byte-identical run after run, whatever the number of worker processes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from speechlib.augment import change_speed
from speechlib.data import CLIP_SAMPLES, NOISE_FOLDER, SAMPLE_RATE, WORDS

# From the real set's README: a speaker's clips all land in the same split, decided by a hash.
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # ~134M
VALIDATION_PERCENTAGE = 10
TESTING_PERCENTAGE = 10

SHORT_CLIP_SHARE = 0.10  # real clips that ended early: about this share is shorter than 1 s
SHORT_CLIP_RANGE = (0.5, 0.95)  # seconds
MAX_WORD_SAMPLES = int(0.9 * SAMPLE_RATE)  # longer words are sped up to fit
WORD_MARGIN = 320  # 20 ms of room kept around the word in a short clip

# espeak-ng: English accents x voice variants (see `espeak-ng --voices=en`, `espeak-ng --voices=variant`).
ESPEAK_ACCENTS = [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
]
ESPEAK_VARIANTS = [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "croak",
    "whisper",
    "klatt",
    "klatt2",
    "klatt4",
    "iven",
    "max",
    "linda",
    "adam",
    "belinda",
    "Annie",
    "Andy",
]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
PICO_VOICES = ["en-US", "en-GB"]  # SVOX pico (pico2wave)
MBROLA_VOICES = ["mb-us1", "mb-us2", "mb-us3", "mb-en1"]  # MBROLA diphone voices, driven by espeak-ng
# Share of speakers per engine: espeak-ng has by far the most distinct voices.
ENGINE_SHARES = {"espeak-ng": 0.65, "flite": 0.22, "festival": 0.13}
# data/extra_voices: two more engine families, for the transfer model only (see data/README.md)
EXTRA_ENGINE_SHARES = {"pico": 0.4, "mbrola": 0.6}
NOISE_KINDS = ("white", "pink", "brown", "hum")
REPO_DATA = Path(__file__).resolve().parent.parent / "data"  # data/bundled, data/extra_voices, data/unknown_speech


# ---------------------------------------------------------------- engines
# An engine turns a list of (text, rate_scale) requests into (samples float32 (n,), sample_rate) pairs.
# rate_scale > 1 means slower (longer) speech. External programs write temp WAVs read with soundfile.


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(path, dtype="float32", always_2d=True)  # (n, channels)
    if samples.shape[0] == 0:
        raise RuntimeError(f"{path}: the TTS engine wrote no samples")
    return samples.mean(axis=1), rate


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")


def _one_file_per_request(requests: list[tuple[str, float]], workdir: Path, command) -> list:
    """Run ``command(text, rate_scale, wav)`` (a program's argument list) for each request; read back each WAV."""
    outputs = []
    for i, (text, rate_scale) in enumerate(requests):
        wav = workdir / f"{i}.wav"
        _run(command(text, rate_scale, wav))
        outputs.append(_read_wav(wav))
    return outputs


def espeak_engine(recipe: dict, requests: list[tuple[str, float]], workdir: Path):
    voice = f"{recipe['voice']}+{recipe['variant']}" if recipe.get("variant") else recipe["voice"]
    return _one_file_per_request(
        requests,
        workdir,
        lambda text, rate_scale, wav: [
            "espeak-ng",
            "-v",
            voice,
            "-p",
            str(recipe["pitch"]),
            "-s",
            str(round(recipe["rate"] / rate_scale)),
            "-w",
            str(wav),
            text,
        ],
    )


def flite_engine(recipe: dict, requests: list[tuple[str, float]], workdir: Path):
    return _one_file_per_request(
        requests,
        workdir,
        lambda text, rate_scale, wav: [
            "flite",
            "-voice",
            recipe["voice"],
            "--setf",
            f"duration_stretch={recipe['rate'] * rate_scale:.3f}",
            "--setf",
            f"int_f0_target_mean={recipe['pitch']}",
            "-t",
            text,
            "-o",
            str(wav),
        ],
    )


def festival_engine(recipe: dict, requests: list[tuple[str, float]], workdir: Path):
    """One festival process per speaker: starting festival costs ~0.3 s, synthesising a word far less."""
    lines = [f"(voice_{recipe['voice']})"]
    for i, (text, rate_scale) in enumerate(requests):
        lines.append(f"(Parameter.set 'Duration_Stretch {recipe['rate'] * rate_scale:.3f})")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{workdir / f"{i}.wav"}" \'riff)')
    script = workdir / "script.scm"
    script.write_text("\n".join(lines) + "\n")
    _run(["festival", "-b", str(script)])
    return [_read_wav(workdir / f"{i}.wav") for i in range(len(requests))]


def pico_engine(recipe: dict, requests: list[tuple[str, float]], workdir: Path):
    """SVOX pico: pitch and speed in percent of the voice's own, set by its markup."""

    def command(text: str, rate_scale: float, wav: Path) -> list[str]:
        speed = round(100 / (recipe["rate"] * rate_scale))
        markup = f"<pitch level='{recipe['pitch']}'><speed level='{speed}'>{text}</speed></pitch>"
        return ["pico2wave", "-l", recipe["voice"], "-w", str(wav), markup]

    return _one_file_per_request(requests, workdir, command)


def mbrola_engine(recipe: dict, requests: list[tuple[str, float]], workdir: Path):
    """MBROLA: espeak-ng turns the text into phonemes, an MBROLA voice (``mb-us1``, ...: recorded diphones, no
    variant) speaks them."""
    return espeak_engine(recipe, requests, workdir)


ENGINES = {
    "espeak-ng": espeak_engine,
    "flite": flite_engine,
    "festival": festival_engine,
    "pico": pico_engine,
    "mbrola": mbrola_engine,
}
# The programs each engine runs (mbrola: espeak-ng calls the `mbrola` program)
ENGINE_PROGRAMS = {"espeak-ng": ["espeak-ng"], "flite": ["flite"], "festival": ["festival"],
                   "pico": ["pico2wave"], "mbrola": ["espeak-ng", "mbrola"]}  # fmt: skip


# ---------------------------------------------------------------- speakers


def speaker_id(recipe: dict) -> str:
    """8 lowercase hex characters from the recipe (like the real set's anonymous ids)."""
    text = json.dumps(recipe, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def which_set(
    filename: str, validation_percentage: float = VALIDATION_PERCENTAGE, testing_percentage: float = TESTING_PERCENTAGE
) -> str:
    """The real set's split rule (its README's ``which_set``): hash the speaker part of the name,
    so all clips of one speaker fall in the same split, and the split never changes."""
    base_name = os.path.basename(filename)
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hash_name_hashed = hashlib.sha1(hash_name.encode()).hexdigest()
    percentage_hash = (int(hash_name_hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < testing_percentage + validation_percentage:
        return "testing"
    return "training"


def random_effects(rng: np.random.Generator) -> dict:
    """Per-speaker effects: each speaker sounds like one person with one microphone in one room."""
    phone = rng.random() < 0.35
    reverb = rng.random() < 0.5
    noise = str(rng.choice(NOISE_KINDS, p=[0.05, 0.15, 0.55, 0.25]))
    return {
        "speed": round(float(rng.uniform(0.9, 1.12)), 3),  # > 1: faster and higher
        "highpass_hz": int(rng.integers(250, 450)) if phone else 0,
        "lowpass_hz": int(rng.integers(3200, 4200)) if phone else int(rng.integers(5000, 7500)),  # every mic rolls off
        "reverb_decay_ms": int(rng.integers(15, 80)) if reverb else 0,
        "reverb_mix": round(float(rng.uniform(0.1, 0.4)), 2) if reverb else 0.0,
        "peak_db": round(float(rng.uniform(-24, -9)), 1),
        "noise": noise,
        # Faint on purpose: a noise floor costs FLAC bytes in every sample, white noise most of all.
        "noise_dbfs": round(float(rng.uniform(-92, -86) if noise in ("white", "pink") else rng.uniform(-86, -78)), 1),
    }


def random_voice(rng: np.random.Generator, engine: str) -> dict:
    """Engine settings: voice, variant, pitch, rate (each engine has its own units)."""
    if engine == "espeak-ng":
        return {
            "voice": str(rng.choice(ESPEAK_ACCENTS)),
            "variant": str(rng.choice(ESPEAK_VARIANTS)),
            "pitch": int(rng.integers(20, 81)),
            "rate": int(rng.integers(120, 200)),
        }  # pitch 0-99, words/min
    if engine == "flite":
        return {
            "voice": str(rng.choice(FLITE_VOICES)),
            "variant": "",
            "pitch": int(rng.integers(90, 220)),
            "rate": round(float(rng.uniform(0.9, 1.3)), 2),
        }  # Hz, stretch
    if engine == "festival":
        return {
            "voice": str(rng.choice(FESTIVAL_VOICES)),
            "variant": "",
            "pitch": 0,
            "rate": round(float(rng.uniform(0.9, 1.3)), 2),
        }  # pitch: comes from effects["speed"]
    if engine == "pico":
        return {
            "voice": str(rng.choice(PICO_VOICES)),
            "variant": "",
            "pitch": int(rng.integers(75, 140)),
            "rate": round(float(rng.uniform(0.9, 1.3)), 2),
        }  # pitch: percent of the voice's own; rate: duration stretch
    if engine == "mbrola":
        return {
            "voice": str(rng.choice(MBROLA_VOICES)),
            "variant": "",
            "pitch": int(rng.integers(20, 81)),
            "rate": int(rng.integers(120, 200)),
        }  # as espeak-ng: pitch 0-99, words/min
    raise ValueError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")


def make_speakers(num_speakers: int, seed: int, engine_shares: dict[str, float] = ENGINE_SHARES) -> list[dict]:
    """``num_speakers`` distinct recipes. Engines get whole numbers of speakers in proportion to their shares."""
    rng = np.random.default_rng([seed, 0])
    engines = list(engine_shares)
    counts = [round(num_speakers * engine_shares[e]) for e in engines]
    counts[0] += num_speakers - sum(counts)
    speakers, seen = [], set()
    for engine, count in zip(engines, counts):
        while sum(s["engine"] == engine for s in speakers) < count:
            recipe = {"engine": engine, **random_voice(rng, engine), **random_effects(rng)}
            sid = speaker_id(recipe)
            if sid not in seen:  # two identical recipes would be one speaker
                seen.add(sid)
                speakers.append({"speaker_id": sid, **recipe})
    return speakers


# ---------------------------------------------------------------- signal processing
# Waveforms are float32 tensors of shape (1, n) in [-1, 1] at SAMPLE_RATE unless said otherwise.


def to_16k(samples: np.ndarray, sample_rate: int) -> torch.Tensor:
    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).unsqueeze(0)  # (1, n)
    if sample_rate != SAMPLE_RATE:
        waveform = AF.resample(waveform, sample_rate, SAMPLE_RATE)
    return waveform


def trim_silence(waveform: torch.Tensor, threshold: float = 0.02, margin: int = 160) -> torch.Tensor:
    """Cut leading/trailing samples quieter than ``threshold`` x the peak (keeping a 10 ms margin)."""
    loud = (waveform.abs() > threshold * waveform.abs().max()).squeeze(0).nonzero()
    if len(loud) == 0:
        return waveform
    start = max(int(loud[0]) - margin, 0)
    end = min(int(loud[-1]) + 1 + margin, waveform.shape[1])
    return waveform[:, start:end]


def reverb_impulse(decay_ms: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """A small room: noise that decays by 60 dB in ``decay_ms`` x 6.9 (e^-t/tau)."""
    num_samples = int(sample_rate * decay_ms / 1000 * 6.9)
    t = np.arange(num_samples) / sample_rate
    impulse = rng.standard_normal(num_samples) * np.exp(-t / (decay_ms / 1000))
    impulse[0] = 0.0
    return torch.from_numpy((impulse / np.abs(impulse).sum()).astype(np.float32)).unsqueeze(0)  # (1, taps)


def apply_effects(waveform: torch.Tensor, effects: dict, rng: np.random.Generator) -> torch.Tensor:
    """Speaker effects in order: speed, phone band-pass, reverb, then scale to the speaker's peak level."""
    waveform = change_speed(waveform, effects["speed"])
    if effects["highpass_hz"]:
        waveform = AF.highpass_biquad(waveform, SAMPLE_RATE, effects["highpass_hz"])
    waveform = AF.lowpass_biquad(waveform, SAMPLE_RATE, effects["lowpass_hz"])
    if effects["reverb_decay_ms"]:
        wet = AF.fftconvolve(waveform, reverb_impulse(effects["reverb_decay_ms"], rng))
        wet = wet[:, : waveform.shape[1] + SAMPLE_RATE // 20]  # keep a 50 ms tail
        dry = torch.nn.functional.pad(waveform, (0, wet.shape[1] - waveform.shape[1]))
        waveform = (1 - effects["reverb_mix"]) * dry + effects["reverb_mix"] * wet / wet.abs().max() * dry.abs().max()
    peak = waveform.abs().max().clamp_min(1e-8)
    return waveform / peak * 10 ** (effects["peak_db"] / 20)


def fit_word(waveform: torch.Tensor, max_samples: int = MAX_WORD_SAMPLES) -> torch.Tensor:
    """A word longer than ``max_samples`` is sped up until it fits (slow voices say 'backward' slowly)."""
    if waveform.shape[1] <= max_samples:
        return waveform
    speed = waveform.shape[1] / max_samples + 0.01
    return change_speed(waveform, speed)[:, :max_samples]


def clip_length(word_samples: int, rng: np.random.Generator, short_share: float = SHORT_CLIP_SHARE) -> int:
    """Mostly a full second; sometimes shorter (the recording ended early) but never cutting the word."""
    if rng.random() >= short_share:
        return CLIP_SAMPLES
    low, high = (int(s * SAMPLE_RATE) for s in SHORT_CLIP_RANGE)
    return max(int(rng.integers(low, high + 1)), min(word_samples + 2 * WORD_MARGIN, high))


def place_word(word: torch.Tensor, num_samples: int, rng: np.random.Generator, jitter_s: float = 0.08) -> torch.Tensor:
    """Put the word near the middle of a silent clip of ``num_samples``, shifted by a random jitter."""
    free = num_samples - word.shape[1]
    if free < 0:
        raise ValueError(f"word of {word.shape[1]} samples does not fit in a clip of {num_samples}")
    start = round(free / 2 + rng.normal(0, jitter_s * SAMPLE_RATE))
    start = min(max(start, 0), free)
    clip = torch.zeros(1, num_samples)
    clip[:, start : start + word.shape[1]] = word
    return clip


def make_noise(kind: str, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise ``(num_samples,)``: white, pink (1/f), brown (1/f^2), hum (50 Hz mains and harmonics)."""
    if kind == "hum":
        t = np.arange(num_samples) / SAMPLE_RATE
        phases = rng.uniform(0, 2 * np.pi, size=4)
        noise = sum(np.sin(2 * np.pi * 50 * (k + 1) * t + phases[k]) / (k + 1) for k in range(4))
        noise = noise + 0.05 * rng.standard_normal(num_samples)
    else:
        exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]  # amplitude ~ 1/f^exponent
        spectrum = np.fft.rfft(rng.standard_normal(num_samples))
        freqs = np.fft.rfftfreq(num_samples, 1 / SAMPLE_RATE)
        spectrum = spectrum / np.maximum(freqs, 20.0) ** exponent  # flat below 20 Hz: no DC drift
        noise = np.fft.irfft(spectrum, n=num_samples)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def running_tap(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Band-passed noise that flutters in loudness, like water from a tap."""
    noise = torch.from_numpy(make_noise("white", num_samples, rng)).unsqueeze(0)
    noise = AF.bandpass_biquad(noise, SAMPLE_RATE, 2500.0, Q=0.7).squeeze(0).numpy()
    t = np.arange(num_samples) / SAMPLE_RATE
    flutter = 1 + 0.3 * np.sin(2 * np.pi * 3.1 * t) * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    noise = noise * flutter
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def mix_noise(clip: torch.Tensor, kind: str, noise_dbfs: float, rng: np.random.Generator) -> torch.Tensor:
    """Add a faint noise floor with RMS ``noise_dbfs`` (dB below full scale; one 16-bit step is -90 dB).
    Speech levels vary by speaker and clip, so the signal-to-noise ratio varies too."""
    noise = torch.from_numpy(make_noise(kind, clip.shape[1], rng)).unsqueeze(0)
    return clip + noise * 10 ** (noise_dbfs / 20)


# ---------------------------------------------------------------- writing files


def to_pcm16(waveform: torch.Tensor) -> np.ndarray:
    """float (1, n) -> int16 (n,), rounded and clipped: the exact samples the FLAC will hold."""
    return np.clip(np.round(waveform.squeeze(0).numpy() * 32767), -32768, 32767).astype(np.int16)


def write_flac(path: Path, samples: np.ndarray) -> None:
    """Atomic: written under a temporary name, then renamed."""
    tmp = path.with_name(path.name + ".tmp")
    sf.write(tmp, samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16", compression_level=1.0)  # smallest
    os.replace(tmp, path)


def clip_rng(seed: int, speaker: str, word: str, utterance: int) -> np.random.Generator:
    """Randomness of one clip depends only on its name and the seed: same output in any worker order."""
    digest = hashlib.sha1(f"{seed}/{speaker}/{word}/{utterance}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def speaker_plan(speaker: dict, words: Sequence[str], seed: int) -> list[tuple[str, int]]:
    """Which (word, utterance number) a speaker says: most words, some of them twice."""
    rng = np.random.default_rng([seed, int(speaker["speaker_id"], 16)])
    plan = []
    for word in words:
        if rng.random() < 0.7:
            repeats = 2 if rng.random() < 0.15 else 1
            plan += [(word, n) for n in range(repeats)]
    return plan


@contextmanager
def one_torch_thread():
    """Run the block with one torch thread, then give the caller back its own setting.
    Workers run side by side: one thread each (and the same arithmetic whatever the machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def render_speaker(
    speaker: dict, words: Sequence[str], out_dir: Path, seed: int, engines: dict = ENGINES
) -> list[dict]:
    """Synthesise, process and write every clip of one speaker. Returns one row per clip."""
    with one_torch_thread():
        return _render_speaker(speaker, words, out_dir, seed, engines)


def _render_speaker(speaker: dict, words: Sequence[str], out_dir: Path, seed: int, engines: dict) -> list[dict]:
    plan = speaker_plan(speaker, words, seed)
    rngs = [clip_rng(seed, speaker["speaker_id"], word, n) for word, n in plan]
    requests = [(word, float(rng.uniform(0.92, 1.08))) for (word, _), rng in zip(plan, rngs)]  # tempo jitter
    with tempfile.TemporaryDirectory(prefix="speechlib-synth-") as workdir:
        spoken = engines[speaker["engine"]](speaker, requests, Path(workdir))
    rows = []
    for (word, n), rng, (samples, rate) in zip(plan, rngs, spoken):
        waveform = trim_silence(to_16k(samples, rate))  # (1, word samples)
        waveform = fit_word(trim_silence(apply_effects(waveform, speaker, rng)))
        waveform = waveform * 10 ** (rng.uniform(-2, 2) / 20)  # the same person is not equally loud each time
        clip = place_word(waveform, clip_length(waveform.shape[1], rng), rng)
        clip = mix_noise(clip, speaker["noise"], speaker["noise_dbfs"] + rng.uniform(-2, 2), rng)
        relative = f"{word}/{speaker['speaker_id']}_nohash_{n}.flac"
        write_flac(out_dir / relative, to_pcm16(clip))
        rows.append({"file": relative, "samples": clip.shape[1]})
    return rows


def write_background_noise(folder: Path, seed: int, seconds: float = 10.0) -> None:
    """A few long noise recordings, like the real ``_background_noise_`` folder (for augmentation)."""
    folder.mkdir(parents=True, exist_ok=True)
    num_samples = int(seconds * SAMPLE_RATE)
    rng = np.random.default_rng([seed, 1])
    noises = {f"{kind}_noise": make_noise(kind, num_samples, rng) for kind in ("white", "pink", "brown")}
    noises["running_tap"] = running_tap(num_samples, rng)
    noises["hum"] = make_noise("hum", num_samples, rng)
    for name, noise in noises.items():
        level = 0.05 if name != "white_noise" else 0.02  # faint, as real room noise; white costs the most bytes
        write_flac(folder / f"{name}.flac", to_pcm16(torch.from_numpy(noise * level).unsqueeze(0)))


def speaker_of(relative: str) -> str:
    """``'yes/1a2b3c4d_nohash_0.flac'`` -> ``'1a2b3c4d'``."""
    return relative.split("/")[1].split("_nohash_")[0]


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_manifest(root: Path) -> None:
    """``SHA256SUMS``: one ``<sha256>  <relative path>`` line per file (``sha256sum -c`` checks it)."""
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(root).as_posix()}")
    write_text(root / "SHA256SUMS", "\n".join(lines) + "\n")


def read_manifest(root: Path) -> dict[str, str]:
    """``SHA256SUMS`` as {relative path: sha256}."""
    entries = {}
    for line in (Path(root) / "SHA256SUMS").read_text().splitlines():
        digest, relative = line.split("  ", 1)
        entries[relative] = digest
    return entries


def finish_tree(partial: Path, out: Path, speakers: list[dict], files: list[str]) -> None:
    """Write a rendered tree's split lists (the real set's rule, by speaker), ``speakers.csv`` and ``SHA256SUMS``
    in ``partial``, then move it to ``out`` (two renames: ``out`` is never a mix of old and new files)."""
    split_of = {s["speaker_id"]: which_set(f"{s['speaker_id']}_nohash_0") for s in speakers}
    files = sorted(files)
    for subset in ("validation", "testing"):
        chosen = [f for f in files if split_of[speaker_of(f)] == subset]
        write_text(partial / f"{subset}_list.txt", "".join(f"{f}\n" for f in chosen))
    clips_per_speaker = Counter(speaker_of(f) for f in files)
    with open(partial / "speakers.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*speakers[0].keys(), "split", "clips"])
        writer.writeheader()
        for s in speakers:
            writer.writerow({**s, "split": split_of[s["speaker_id"]], "clips": clips_per_speaker[s["speaker_id"]]})
    write_manifest(partial)
    old = out.with_name(out.name + ".old")
    if out.exists():
        os.replace(out, old)
    os.replace(partial, out)
    shutil.rmtree(old, ignore_errors=True)


def generate(
    out: Path,
    seed: int = 0,
    num_speakers: int = 150,
    words: Sequence[str] = WORDS,
    workers: int = 2,
    engines: dict = ENGINES,
    progress: bool = True,
    engine_shares: dict[str, float] = ENGINE_SHARES,
) -> dict:
    """Build the whole set in ``out``. It is written next to it first and moved in place only when
    complete, so an interrupted run never leaves a half-made set. Returns measured counts."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for word in words:
        (partial / word).mkdir(parents=True)
    speakers = make_speakers(num_speakers, seed, engine_shares)
    started = time.time()
    rows = []
    jobs = [(s, words, partial, seed, engines) for s in speakers]
    # workers=1 runs in this process: easier to debug, and engines need not be picklable.
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool:
        mapper = pool.map if pool else map
        for done, speaker_rows in enumerate(mapper(render_speaker, *zip(*jobs)), 1):
            rows += speaker_rows
            if progress and (done % 10 == 0 or done == len(jobs)):
                print(f"{done}/{len(jobs)} speakers, {len(rows)} clips, {time.time() - started:.0f} s", flush=True)
    write_background_noise(partial / NOISE_FOLDER, seed)
    finish_tree(partial, out, speakers, [r["file"] for r in rows])
    lengths = np.array([r["samples"] for r in rows])
    return {
        "clips": len(rows),
        "speakers": len(speakers),
        "short_share": float((lengths < CLIP_SAMPLES).mean()),
        "seconds": time.time() - started,
    }


def parse_shares(text: str) -> dict[str, float]:
    """``"pico=0.4,mbrola=0.6"`` -> ``{"pico": 0.4, "mbrola": 0.6}``; unknown engines are refused by name."""
    shares = {}
    for part in text.split(","):
        engine, _, share = part.partition("=")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: choose among {', '.join(ENGINES)}")
        try:
            shares[engine] = float(share)
        except ValueError:
            raise ValueError(f"{part!r}: write ENGINE=SHARE, for example pico=0.4") from None
    return shares


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python tools/synth.py",
        description="Generate the bundled synthetic Speech Commands set (needs espeak-ng, flite, festival; "
        "see data/README.md). Same seed, same bytes.",
    )
    parser.add_argument("--out", type=Path, default=Path("data/bundled"), help="output folder (replaced when done)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for speakers and clips (default 0)")
    parser.add_argument("--speakers", type=int, default=150, help="number of synthetic speakers (default 150)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--engines",
        default=",".join(f"{engine}={share}" for engine, share in ENGINE_SHARES.items()),
        help="share of speakers per engine (default: the bundled set's, %(default)s; data/extra_voices: "
        + ",".join(f"{engine}={share}" for engine, share in EXTRA_ENGINE_SHARES.items())
        + ")",
    )
    args = parser.parse_args(argv)
    try:
        shares = parse_shares(args.engines)
    except ValueError as error:
        parser.error(str(error))
    programs = dict.fromkeys(program for engine in shares for program in ENGINE_PROGRAMS[engine])
    missing = [program for program in programs if shutil.which(program) is None]
    if missing:
        parser.error(
            f"missing TTS programs: {', '.join(missing)} (install them with the apt-get lines in data/README.md)"
        )
    stats = generate(args.out, seed=args.seed, num_speakers=args.speakers, workers=args.workers, engine_shares=shares)
    print(
        f"{stats['clips']} clips from {stats['speakers']} speakers in {args.out} "
        f"({stats['short_share']:.1%} shorter than 1 s) in {stats['seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
