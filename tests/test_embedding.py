"""The PyTorch port of the speech embedding equals the ONNX original (speechlib/embedding.py, notebook 09).

tests/data/speech_embedding_reference.npz holds a few inputs and what onnxruntime computed from them with
openWakeWord's two ONNX files (written by tools/convert_speech_embedding.py): no network, no onnxruntime here.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from speechlib.embedding import (
    EMBEDDING_DIM,
    INT16_SCALE,
    WEIGHTS_PATH,
    EmbeddingNet,
    MelFrontEnd,
    SpeechEmbedding,
    load_speech_embedding,
    weights_fingerprint,
)

REFERENCE = Path(__file__).parent / "data" / "speech_embedding_reference.npz"
INPUTS = ("clip0", "clip1", "synthetic")  # 13,541, 16,000 and 20,800 samples: 1, 3 and 7 windows

# Tolerances: tools/convert_speech_embedding.py measured at most 7.7e-05 between torchaudio's and the ONNX
# log-mel (values 3.4..11.9: float32 FFT against a float32 DFT-by-convolution) and at most 7.3e-05 between
# the embeddings (values up to 56 in magnitude: float32 summation order). 1e-3 leaves room for other CPUs'
# kernels and stays far below what a wrong setting or weight does (see test_a_wrong_weight_is_caught).
LOG_MEL_ATOL = 1e-3
EMBEDDING_ATOL = 1e-3


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as arrays:
        return {name: arrays[name] for name in arrays.files}


@pytest.fixture(scope="module")
def embedder():
    return load_speech_embedding()


def as_waveform(samples: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(samples.astype(np.float32) / INT16_SCALE)[None, None]  # (1, 1, n) in [-1, 1]


@pytest.mark.parametrize("name", INPUTS)
def test_front_end_equals_onnx(reference, name):
    with torch.no_grad():
        log_mel = MelFrontEnd()(as_waveform(reference[f"{name}_samples"]))[0].numpy()  # (frames, 32)
    expected = reference[f"{name}_log_mel"]
    assert log_mel.shape == expected.shape
    np.testing.assert_allclose(log_mel, expected, rtol=0, atol=LOG_MEL_ATOL)


@pytest.mark.parametrize("name", INPUTS)
def test_network_equals_onnx_on_the_same_log_mel(reference, embedder, name):
    with torch.no_grad():
        embeddings = embedder.network(torch.from_numpy(reference[f"{name}_log_mel"])[None])[0].numpy()
    np.testing.assert_allclose(embeddings, reference[f"{name}_embeddings"], rtol=0, atol=EMBEDDING_ATOL)


@pytest.mark.parametrize("name", INPUTS)
def test_waveform_to_embeddings_equals_onnx(reference, embedder, name):
    samples = reference[f"{name}_samples"]
    with torch.no_grad():
        embeddings = embedder(as_waveform(samples))[0].numpy()  # (windows, 96)
    expected = reference[f"{name}_embeddings"]  # openWakeWord: one window every 8 frames, short ones dropped
    assert embeddings.shape == expected.shape == (embedder.num_windows(len(samples)), EMBEDDING_DIM)
    np.testing.assert_allclose(embeddings, expected, rtol=0, atol=EMBEDDING_ATOL)


def test_a_wrong_weight_is_caught(reference, embedder):
    """The comparison above can fail: 0.05 added to one bias of the first layer breaks it."""
    damaged = load_speech_embedding()
    with torch.no_grad():
        damaged.network.layers.conv0.bias[0] += 0.05
        embeddings = damaged(as_waveform(reference["clip1_samples"]))[0].numpy()
    assert np.abs(embeddings - reference["clip1_embeddings"]).max() > 10 * EMBEDDING_ATOL
    assert weights_fingerprint(damaged) != weights_fingerprint(embedder)


def test_a_wrong_front_end_is_caught(reference):
    front_end = MelFrontEnd()
    front_end.mel_spectrogram.mel_scale.fb[:, 0] *= 1.1  # 10% more energy in the lowest band: 0.04 after log/10
    with torch.no_grad():
        log_mel = front_end(as_waveform(reference["clip1_samples"]))[0].numpy()
    assert np.abs(log_mel - reference["clip1_log_mel"]).max() > 10 * LOG_MEL_ATOL


def test_one_pass_equals_window_by_window():
    """The network's stride of 8 frames gives openWakeWord's windows in one pass, whatever the remainder."""
    torch.manual_seed(0)
    network = EmbeddingNet().eval()
    for num_frames in (76, 77, 83, 84, 91, 99):  # 0, 1, 7, 0, 7 and 7 frames left past the last window
        log_mel = torch.rand(1, num_frames, 32) * 8 + 3  # (1, frames, 32), the range of real log-mel
        starts = range(0, num_frames - 76 + 1, 8)
        with torch.no_grad():
            one_pass = network(log_mel)  # (1, windows, 96)
            one_by_one = torch.cat([network(log_mel[:, start : start + 76]) for start in starts], dim=1)
        assert one_pass.shape == (1, len(starts), 96), num_frames
        torch.testing.assert_close(one_pass, one_by_one, rtol=0, atol=1e-4)


def test_other_hops_cut_windows_out(reference, embedder):
    hop4 = load_speech_embedding(hop_frames=4)
    waveform = as_waveform(reference["synthetic_samples"])  # 127 frames
    with torch.no_grad():
        every_4 = hop4(waveform)  # (1, 13, 96)
        every_8 = embedder(waveform)  # (1, 7, 96)
    assert every_4.shape == (1, 13, 96) and hop4.num_windows(waveform.shape[-1]) == 13
    torch.testing.assert_close(every_4[:, ::2], every_8, rtol=0, atol=1e-4)


def test_shapes_of_one_second():
    embedder = SpeechEmbedding()
    waveforms = torch.zeros(4, 1, 16000)  # (batch, 1, 16000)
    with torch.no_grad():
        assert embedder.front_end(waveforms).shape == (4, 97, 32)  # 10 ms frames
        assert embedder(waveforms).shape == (4, 3, 96)
    assert embedder.num_windows(16000) == 3 and embedder.num_windows(12512) == 1 and embedder.num_windows(12000) == 0


def test_inner_layers_come_from_the_same_pass(reference, embedder):
    """layer_outputs: the embedding equals forward's, and an inner layer is that layer's feature map, flattened."""
    waveform = as_waveform(reference["synthetic_samples"])  # 127 frames: 7 windows
    with torch.no_grad():
        outputs = embedder.layer_outputs(waveform, ("pool3", "output"))
        log_mel = embedder.front_end(waveform).unsqueeze(1)  # (1, 1, 127, 32)
        names = [name for name, _ in embedder.network.layers.named_children()]
        pool3 = embedder.network.layers[: names.index("pool3") + 1](log_mel)  # (1, 96, steps, 2)
    torch.testing.assert_close(outputs["output"], embedder(waveform), rtol=0, atol=0)
    assert pool3.shape == (1, 96, 22, 2) and outputs["pool3"].shape == (1, 22, 192)  # one step every 4 frames
    assert embedder.output_shape(20800, "pool3") == (22, 192)
    torch.testing.assert_close(outputs["pool3"], pool3.permute(0, 2, 1, 3).flatten(2), rtol=0, atol=0)
    torch.testing.assert_close(outputs["pool3"][0, 4].reshape(96, 2), pool3[0, :, 4], rtol=0, atol=0)  # channel-major
    assert embedder.output_shape(24000, "pool3") == (27, 192) and embedder.output_shape(24000) == (9, 96)
    with torch.no_grad():  # output_shape works the shapes out from the layer table: they must be what a pass gives
        for layer in ("act0", "pool0", "act7", "pool2", "act18", "pool4", "output"):
            measured = embedder(torch.zeros(1, 1, 24000), layer).shape[1:]
            assert embedder.output_shape(24000, layer) == tuple(measured), layer


def test_unknown_layers_and_inner_layers_with_another_hop_are_errors():
    with pytest.raises(ValueError, match="unknown layer 'conv3'"):  # overwritten by its in-place activation
        SpeechEmbedding()(torch.zeros(1, 1, 16000), "conv3")
    with pytest.raises(ValueError, match="unknown layer 'pool9'"):
        SpeechEmbedding().network(torch.zeros(1, 76, 32), "pool9")
    with pytest.raises(ValueError, match="inner layers need hop_frames=8"):
        SpeechEmbedding(hop_frames=4)(torch.zeros(1, 1, 16000), "pool3")


def test_too_short_or_wrong_shape_is_a_clear_error():
    embedder = SpeechEmbedding()
    with pytest.raises(ValueError, match="at least 76"):
        embedder(torch.zeros(1, 1, 12000))
    with pytest.raises(ValueError, match=r"\(batch, 1, samples\)"):
        embedder(torch.zeros(1, 16000))
    with pytest.raises(ValueError, match="frames >= 76"):
        embedder.network(torch.zeros(1, 50, 32))


def test_weights_file_is_plain_tensors():
    state_dict = torch.load(WEIGHTS_PATH, weights_only=True)
    assert set(state_dict) == set(EmbeddingNet().state_dict())
    assert sum(tensor.numel() for tensor in state_dict.values()) == 328_128


def test_missing_or_damaged_weights_name_the_file(tmp_path):
    missing = tmp_path / "nothing.pt"
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_speech_embedding(missing)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(WEIGHTS_PATH.read_bytes()[:1000])
    with pytest.raises(ValueError, match="damaged.pt"):
        load_speech_embedding(damaged)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="foreign.pt"):
        load_speech_embedding(foreign)
