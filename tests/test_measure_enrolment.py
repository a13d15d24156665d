"""tools/measure_enrolment.py: its shortcut (the base model's pooled features, plus the new row) gives the enrolled
model's own probabilities, and its table averages over draws first, then over words."""

import pytest
import torch

from measure_enrolment import base_probabilities, heads_view, probabilities, summarise
from speechlib.enrol import with_new_row
from speechlib.transfer import EmbeddingClassifier


def test_the_shortcut_gives_the_enrolled_models_probabilities():
    torch.manual_seed(0)
    model = EmbeddingClassifier(
        num_classes=3, num_heads=2, width=8, pretrained=False, inner_layer="pool3", num_inner_heads=1
    ).eval()
    model.log_prior[1] = -2.0
    clips = 0.1 * torch.randn(4, 1, 16000)
    features, old_logits = heads_view(model, clips)
    assert features.shape == (3, 4, 16) and old_logits.shape == (3, 4, 3)
    new_model = with_new_row(model, torch.randn(3, 16), torch.randn(3), log_prior=-1.0)
    with torch.no_grad():
        assert torch.allclose(probabilities(new_model, features, old_logits), new_model(clips).exp(), atol=1e-6)
        assert torch.allclose(base_probabilities(model, old_logits), model(clips).exp(), atol=1e-6)


def record(word: str, shots: int, recall: float, **more) -> dict:
    fields = {"others_rejected": 0.9, "others_rejected_before": 0.95, "others_taken": 0.05, "seconds": 1.0}
    fields |= {"command_accuracy_before": 0.9, "command_accuracy": 0.9}
    return {"tree": "t", "word": word, "shots": shots, "recall": recall, **fields, **more}


def test_each_word_counts_the_same_however_many_draws_it_had():
    records = [record("a", 5, 1.0), record("a", 5, 0.8), record("a", 5, 0.6), record("b", 5, 0.0)]
    records += [record("a", 3, 0.5, command_accuracy=0.85, seconds=3.0)]
    three, five = summarise(records)
    assert (five["shots"], five["words"], five["enrolments"]) == (5, 2, 4)
    assert five["recall"] == pytest.approx((0.8 + 0.0) / 2) and five["worst_word_recall"] == 0.0
    assert five["command_drop_points"] == pytest.approx(0.0)
    assert three["command_drop_points"] == pytest.approx(5.0) and three["max_seconds"] == 3.0
