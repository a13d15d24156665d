"""Convert openWakeWord's copy of Google's speech_embedding to PyTorch (maintainer script, run once).

    pip install onnx onnxruntime                 # or pip install -e ".[tools]": maintainer-only, not dependencies
    PYTHONPATH=$PWD python tools/convert_speech_embedding.py [--wheel openwakeword-0.5.1-py3-none-any.whl]

Without ``--wheel`` it runs ``pip download --no-deps openwakeword==0.5.1`` into a temporary folder. From the
wheel it reads ONLY ``openwakeword/resources/models/melspectrogram.onnx`` and ``embedding_model.onnx`` (the
wake-word models beside them are CC BY-NC-SA and are never opened), into a temporary folder, then:

1. checks that :class:`speechlib.embedding.MelFrontEnd`, rebuilt from its definition with torchaudio,
   matches the ONNX front end: window, DFT basis, mel matrix and the log/top-dB constants;
2. converts the embedding network's learned weights (20 convolutions, batch norm already folded in) into
   the ``state_dict`` of :class:`speechlib.embedding.EmbeddingNet` after checking every layer's shape,
   padding and activation, and saves it atomically to ``models/speech_embedding.pt``;
3. runs both ONNX files with onnxruntime on a few inputs (bundled clips and a synthetic signal), compares
   the PyTorch port (prints the largest differences) and writes the inputs and onnxruntime's outputs to
   ``tests/data/speech_embedding_reference.npz``, which ``tests/test_embedding.py`` checks without a network
   and without onnxruntime.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
import torchaudio
from onnx import numpy_helper

from speechlib.data import BUNDLED_ROOT, REPO_DIR, read_clip
from speechlib.embedding import HOP_FRAMES, INT16_SCALE, WINDOW_FRAMES, EmbeddingNet, MelFrontEnd, SpeechEmbedding
from speechlib.files import atomic_write

WHEEL = "openwakeword==0.5.1"
MEMBERS = ("melspectrogram.onnx", "embedding_model.onnx")  # the only files this script reads from the wheel
MODELS_IN_WHEEL = "openwakeword/resources/models/"
OUT_WEIGHTS = REPO_DIR / "models" / "speech_embedding.pt"
OUT_REFERENCE = REPO_DIR / "tests" / "data" / "speech_embedding_reference.npz"
# two bundled clips (two engines) and a synthetic signal of 1.3 s (5 windows, frames not a multiple of 8)
REFERENCE_CLIPS = ("yes/7289ccda_nohash_0.flac", "six/57204dde_nohash_0.flac")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_wheel(directory: Path) -> Path:
    """``pip download --no-deps openwakeword==0.5.1`` into ``directory``: its dependencies are not needed."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(directory)], check=True)
    (wheel,) = directory.glob("openwakeword-*.whl")
    return wheel


def extract_models(wheel: Path, directory: Path) -> dict[str, Path]:
    """Copy the two feature models (and nothing else) out of the wheel."""
    paths = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in MEMBERS:
            paths[name] = directory / name
            paths[name].write_bytes(archive.read(MODELS_IN_WHEEL + name))
    return paths


def constants(graph: onnx.GraphProto) -> tuple[dict[str, np.ndarray], dict[str, onnx.NodeProto]]:
    """Every initializer and Constant node's value by name, and every node by its first output."""
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values, {node.output[0]: node for node in graph.node}


def attribute(node: onnx.NodeProto, name: str, default=None):
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def check_front_end(model_path: Path) -> None:
    """The ONNX front end is torchlibrosa's STFT-as-convolution + log-mel; compare each part with ours."""
    graph = onnx.load(str(model_path)).graph
    values, _ = constants(graph)
    ops = [node.op_type for node in graph.node if node.op_type != "Constant"]
    expected_ops = ["Unsqueeze", "Conv", "Conv", "Unsqueeze", "Transpose", "Unsqueeze", "Transpose", "Pow", "Pow"]
    expected_ops += ["Add", "MatMul", "Clip", "Log", "Mul", "Div", "Sub", "ReduceMax", "Sub", "Cast", "Clip"]
    assert ops == expected_ops, f"unexpected front-end graph: {ops}"
    ours = MelFrontEnd()
    spectrogram = ours.mel_spectrogram.spectrogram

    # 1. window and DFT: conv_real[k, 0, n] = window[n] cos(2 pi k n / 512), conv_imag = -window[n] sin(...)
    real = values["0.stft.conv_real.weight"][:, 0, :].astype(np.float64)  # (257, 512)
    imag = values["0.stft.conv_imag.weight"][:, 0, :].astype(np.float64)
    n_fft, win_length = spectrogram.n_fft, spectrogram.win_length
    offset = (n_fft - win_length) // 2  # torch.stft centres the shorter window inside the DFT
    window = np.zeros(n_fft)
    window[offset : offset + win_length] = spectrogram.window.double().numpy()
    angle = 2 * np.pi * np.outer(np.arange(n_fft // 2 + 1), np.arange(n_fft)) / n_fft
    errors = {
        "window": np.abs(real[0] - window).max(),
        "DFT real part": np.abs(real - window * np.cos(angle)).max(),
        "DFT imaginary part": np.abs(np.abs(imag) - np.abs(window * np.sin(angle))).max(),
    }
    # 2. mel matrix: torchaudio's Slaney filterbank (257, 32) against theirs
    errors["mel matrix"] = np.abs(ours.mel_spectrogram.mel_scale.fb.numpy() - values["1.melW"]).max()
    for name, error in errors.items():
        print(f"front end: {name:20s} max |ours - ONNX| = {error:.2e}")
        assert error < 1e-6, f"{name} differs from the ONNX front end"
    assert spectrogram.hop_length == 160 and attribute(_first(graph, "Conv"), "strides") == [160]
    assert attribute(_first(graph, "Conv"), "pads") == [0, 0], "the ONNX STFT is not padded (center=False)"

    # 3. decibels: 10 * log10(clip(x, amin)) - 10 * log10(ref), floored at max - top_db
    to_db = ours.to_decibels
    amin = values["onnx::Clip_39"]
    log10 = float(values["onnx::Div_28"])
    assert np.isclose(amin, to_db.amin) and np.isclose(log10, np.log(10)), (amin, log10)
    assert float(values["onnx::Mul_26"]) == to_db.multiplier == 10.0
    assert float(values["onnx::Sub_30"]) == to_db.db_multiplier == 0.0, "reference power is not 1"
    assert float(values["onnx::Sub_33"]) == to_db.top_db == 80.0
    print("front end: log scaling  10*log10(max(power, 1e-10)), floored at max - 80 dB: as in the ONNX graph")


def _first(graph: onnx.GraphProto, op_type: str) -> onnx.NodeProto:
    return next(node for node in graph.node if node.op_type == op_type)


def convert_embedding(model_path: Path) -> dict[str, torch.Tensor]:
    """The ONNX network's weights as EmbeddingNet's state_dict, after checking the layers match one by one."""
    graph = onnx.load(str(model_path)).graph
    values, _ = constants(graph)
    network = EmbeddingNet()
    ours = [(name, module) for name, module in network.layers.named_children() if not name.startswith("act")]
    theirs = [node for node in graph.node if node.op_type in ("Conv", "MaxPool")]
    assert len(ours) == len(theirs), f"{len(ours)} layers here, {len(theirs)} in the ONNX graph"
    state_dict = {}
    for (name, module), node in zip(ours, theirs):
        if node.op_type == "MaxPool":
            assert isinstance(module, torch.nn.MaxPool2d), f"{name}: ONNX has a MaxPool here"
            assert list(module.kernel_size) == attribute(node, "kernel_shape") == attribute(node, "strides"), name
            continue
        assert isinstance(module, torch.nn.Conv2d), f"{name}: ONNX has a Conv here"
        weight = values[node.input[1]]  # (out, in, time, mel): ONNX is NCHW like PyTorch
        assert weight.shape == tuple(module.weight.shape), f"{name}: {weight.shape} vs {tuple(module.weight.shape)}"
        pads = attribute(node, "pads", [0, 0, 0, 0])  # (time begin, mel begin, time end, mel end)
        assert tuple(pads) == (*module.padding, *module.padding), f"{name}: padding {pads} vs {module.padding}"
        assert attribute(node, "strides", [1, 1]) == [1, 1] and attribute(node, "dilations", [1, 1]) == [1, 1]
        state_dict[f"layers.{name}.weight"] = torch.from_numpy(weight.copy())
        if len(node.input) > 2:
            state_dict[f"layers.{name}.bias"] = torch.from_numpy(values[node.input[2]].copy())
    # every convolution but the last is followed by LeakyRelu(0.2) and Max(x, -0.4): ClippedLeakyReLU
    alphas = {round(attribute(node, "alpha"), 6) for node in graph.node if node.op_type == "LeakyRelu"}
    floors = {float(values[node.input[1]].ravel()[0]) for node in graph.node if node.op_type == "Max"}
    assert alphas == {0.2} and np.allclose(list(floors), [-0.4]), (alphas, floors)
    convolutions = sum(node.op_type == "Conv" for node in graph.node)
    activations = sum(node.op_type == "LeakyRelu" for node in graph.node)
    assert activations == sum(node.op_type == "Max" for node in graph.node) == convolutions - 1, activations
    network.load_state_dict(state_dict)  # strict: every key present, every shape right
    print(
        f"embedding: 20 convolutions converted, 5 poolings checked, {sum(p.numel() for p in network.parameters()):,} parameters"
    )
    state_dict = network.state_dict()
    for name, tensor in state_dict.items():
        state_dict[name] = tensor.contiguous()  # the plain layout on disk, whatever layout the module computes in
    return state_dict


def reference_inputs() -> dict[str, np.ndarray]:
    """Small int16 inputs: two bundled clips as they are, one synthetic 1.3 s signal (a chirp in noise)."""
    inputs = {}
    for i, relative_path in enumerate(REFERENCE_CLIPS):
        waveform = read_clip(BUNDLED_ROOT / relative_path)  # (1, n) in [-1, 1]
        inputs[f"clip{i}"] = np.round(waveform[0].numpy() * INT16_SCALE).astype(np.int16)
    rng = np.random.default_rng(0)
    seconds = np.arange(int(1.3 * 16000)) / 16000
    chirp = np.sin(2 * np.pi * (200 * seconds + 1500 * seconds**2)) * np.hanning(len(seconds))
    synthetic = 8000 * chirp + 300 * rng.standard_normal(len(seconds))
    inputs["synthetic"] = np.clip(synthetic, -32768, 32767).astype(np.int16)
    return inputs


def onnx_sessions(paths: dict[str, Path]):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return tuple(
        onnxruntime.InferenceSession(str(paths[name]), sess_options=options, providers=["CPUExecutionProvider"])
        for name in MEMBERS
    )


def onnx_features(mel_session, embedding_session, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What openWakeWord's AudioFeatures computes: mel (frames, 32) after x/10+2, and embeddings (windows, 96)."""
    (mel,) = mel_session.run(None, {"input": samples[None].astype(np.float32)})  # (1, 1, frames, 32)
    log_mel = mel[0, 0] / 10 + 2  # openWakeWord's melspec_transform
    starts = range(0, log_mel.shape[0] - WINDOW_FRAMES + 1, HOP_FRAMES)
    windows = np.stack([log_mel[start : start + WINDOW_FRAMES] for start in starts])[..., None]  # (w, 76, 32, 1)
    (embeddings,) = embedding_session.run(None, {"input_1": windows.astype(np.float32)})  # (w, 1, 1, 96)
    return log_mel.astype(np.float32), embeddings[:, 0, 0, :]


def compare(model: SpeechEmbedding, sessions, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run onnxruntime and the port on every input; print the differences; return the fixture's arrays."""
    arrays = {}
    for name, samples in inputs.items():
        log_mel, embeddings = onnx_features(*sessions, samples)
        waveform = torch.from_numpy(samples.astype(np.float32) / INT16_SCALE)[None, None]  # (1, 1, n)
        with torch.no_grad():
            our_log_mel = model.front_end(waveform)[0].numpy()
            our_from_their_mel = model.network(torch.from_numpy(log_mel)[None])[0].numpy()
            our_embeddings = model(waveform)[0].numpy()
        print(
            f"{name:10s} {len(samples):6d} samples: log-mel {log_mel.shape} range {log_mel.min():.2f}..{log_mel.max():.2f}"
            f" max diff {np.abs(our_log_mel - log_mel).max():.2e};"
            f" embeddings {embeddings.shape} max |value| {np.abs(embeddings).max():.1f},"
            f" network alone max diff {np.abs(our_from_their_mel - embeddings).max():.2e},"
            f" end to end {np.abs(our_embeddings - embeddings).max():.2e}"
        )
        arrays[f"{name}_samples"] = samples
        arrays[f"{name}_log_mel"] = log_mel
        arrays[f"{name}_embeddings"] = embeddings.astype(np.float32)
    return arrays


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="openwakeword-0.5.1 wheel (default: pip download it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        wheel = args.wheel or fetch_wheel(Path(temporary))
        print(f"wheel: {wheel.name} sha256 {sha256(wheel)}")
        paths = extract_models(wheel, Path(temporary))
        for name, path in paths.items():
            print(f"  {name}: sha256 {sha256(path)}")
        check_front_end(paths["melspectrogram.onnx"])
        state_dict = convert_embedding(paths["embedding_model.onnx"])
        with atomic_write(OUT_WEIGHTS) as f:
            torch.save(state_dict, f)
        print(f"wrote {OUT_WEIGHTS.relative_to(REPO_DIR)} ({OUT_WEIGHTS.stat().st_size:,} bytes)")

        model = SpeechEmbedding()
        model.network.load_state_dict(torch.load(OUT_WEIGHTS, weights_only=True))
        model.eval()
        arrays = compare(model, onnx_sessions(paths), reference_inputs())
    arrays["onnxruntime_version"] = np.array(onnxruntime.__version__)
    arrays["torchaudio_version"] = np.array(torchaudio.__version__)
    with atomic_write(OUT_REFERENCE) as f:
        np.savez_compressed(f, **arrays)
    print(f"wrote {OUT_REFERENCE.relative_to(REPO_DIR)} ({OUT_REFERENCE.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
