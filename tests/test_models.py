"""The models: output shapes, log-probabilities, parameter counts."""

import pytest
import torch

from speechlib import CNN, SimpleNet, build_model, count_parameters, load_model, save_model
from speechlib.models import M5


@pytest.mark.parametrize("model_class", [SimpleNet, CNN, M5])
def test_clips_in_log_probabilities_out(model_class):
    torch.manual_seed(0)
    model = model_class(num_classes=35).eval()
    waveforms = torch.randn(4, 1, 16000) * 0.1  # (batch, 1, samples)
    with torch.no_grad():
        log_probs = model(waveforms)
    assert log_probs.shape == (4, 35)
    assert torch.all(log_probs <= 0)  # log of a probability
    assert torch.allclose(log_probs.exp().sum(dim=1), torch.ones(4), atol=1e-5)  # rows are distributions


def test_simplenet_layers_and_parameter_count():
    model = SimpleNet(num_classes=10)
    sizes = [(layer.in_features, layer.out_features) for layer in (model.fc1, model.fc2, model.fc3)]
    assert sizes == [(16000, 128), (128, 64), (64, 10)]
    assert count_parameters(model) == 16000 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10


def test_count_parameters_skips_frozen_ones():
    model = SimpleNet(num_classes=35)
    model.fc1.requires_grad_(False)
    assert count_parameters(model) == 128 * 64 + 64 + 64 * 35 + 35


def test_simplenet_has_no_relu_after_the_last_layer():
    """Logits can be negative: the output is log_softmax of fc3, not of relu(fc3)."""
    torch.manual_seed(0)
    model = SimpleNet(num_classes=35)
    waveforms = torch.randn(2, 1, 16000)
    hidden = torch.relu(model.fc2(torch.relu(model.fc1(waveforms.flatten(1)))))
    logits = model.fc3(hidden)
    assert (logits < 0).any()
    assert torch.allclose(model(waveforms), torch.log_softmax(logits, dim=1))


def test_build_model_by_name():
    assert isinstance(build_model("simplenet", 12), SimpleNet)
    assert build_model("cnn", 12)(torch.zeros(1, 1, 16000)).shape == (1, 12)
    assert isinstance(build_model("m5", 12), M5)
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        build_model("rnn")


def test_m5_shapes_and_parameter_count():
    """M5 as in PyTorch's tutorial: 80-wide, stride-16 first convolution, three 3-wide ones, pooling by 4 each."""
    model = M5(num_classes=35).eval()
    x = torch.zeros(2, 1, 16000)  # (batch, 1, samples)
    steps = []
    for block in model.body:
        x = block(x)
        steps.append(tuple(x.shape[1:]))
    assert steps == [(32, 249), (32, 61), (64, 14), (64, 3)]
    convolutions = 80 * 32 + 32 + 3 * 32 * 32 + 32 + 3 * 32 * 64 + 64 + 3 * 64 * 64 + 64  # weights and biases
    batch_norms = 2 * (32 + 32 + 64 + 64)  # a scale and a shift per channel
    assert count_parameters(model) == convolutions + batch_norms + 64 * 35 + 35 == 26915  # the tutorial's count


def test_m5_trains_a_step():
    torch.manual_seed(0)
    model = M5(num_classes=4).train()
    waveforms = torch.randn(8, 1, 16000) * 0.1
    targets = torch.arange(8) % 4
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):  # the same batch: the loss must fall
        optimizer.zero_grad()
        loss = torch.nn.functional.nll_loss(model(waveforms), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_m5_saves_and_loads_by_name(tmp_path):
    torch.manual_seed(0)
    model = M5(num_classes=3).eval()
    path = save_model(model, tmp_path / "m5.pt", labels=["a", "b", "c"], model_name="m5")
    loaded, labels = load_model(path)
    assert labels == ["a", "b", "c"]
    assert isinstance(loaded, M5)
    waveforms = torch.randn(2, 1, 16000)
    with torch.no_grad():
        assert torch.allclose(loaded(waveforms), model(waveforms))
