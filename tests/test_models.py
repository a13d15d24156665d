"""The models: output shapes, log-probabilities, parameter counts."""

import pytest
import torch

from speechlib import CNN, SimpleNet, build_model, count_parameters


@pytest.mark.parametrize("model_class", [SimpleNet, CNN])
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
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        build_model("rnn")
