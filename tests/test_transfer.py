"""The shipped transfer model (models/transfer.pt): shape and labels, a save/load round trip, "I heard nothing"
for sounds that are not speech, predict with the default model, and evaluate on a tree with fewer classes."""

import copy
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

import speechlib
from speechlib import cli, load_model, save_model
from speechlib.data import BUNDLED_ROOT, SpeechCommands
from speechlib.recorder import Recorder
from speechlib.training import load_checkpoint
from speechlib.transfer import (
    DEFAULT_MODEL,
    HEARD_NOTHING,
    NON_SPEECH_KINDS,
    NOT_A_WORD,
    SILENCE_LABEL,
    UNKNOWN_LABEL,
    EmbeddingClassifier,
    non_speech_clips,
    verdict,
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def shipped():
    return load_model(DEFAULT_MODEL)


def speechlib_cli(*argv) -> int:
    return cli.main([str(a) for a in argv])


def test_default_model_is_the_shipped_transfer_model(shipped):
    model, labels = shipped
    assert speechlib.DEFAULT_MODEL == DEFAULT_MODEL and DEFAULT_MODEL.name == "transfer.pt"
    assert isinstance(model, EmbeddingClassifier) and not model.training
    words = SpeechCommands(BUNDLED_ROOT, verbose=False).labels
    assert labels == words + [SILENCE_LABEL, UNKNOWN_LABEL], "35 words in the bundled order, then the extra classes"
    log_probs = model(torch.zeros(3, 1, 16000))  # (batch, classes)
    assert log_probs.shape == (3, 37)
    assert torch.allclose(log_probs.exp().sum(dim=1), torch.ones(3), atol=1e-5)
    assert not any(p.requires_grad for p in model.embedding.parameters()), "the embedding stays frozen"


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = EmbeddingClassifier(num_classes=36).eval()
    model.log_prior[35] = -2.0
    model.reject_below.fill_(0.25)
    path = save_model(model, tmp_path / "t.pt", [f"w{i}" for i in range(36)], "transfer")
    loaded, labels = load_model(path)
    clips = torch.randn(2, 1, 16000) * 0.1
    with torch.no_grad():
        assert torch.equal(loaded(clips), model(clips))
    assert labels[-1] == "w35" and float(loaded.reject_below) == 0.25 and float(loaded.log_prior[35]) == -2.0


def test_load_rebuilds_the_heads_from_the_saved_settings(tmp_path):
    torch.manual_seed(0)
    model = EmbeddingClassifier(num_classes=5, num_heads=2, width=32, pad_samples=800).eval()
    settings = {"num_heads": 2, "width": 32, "pad_samples": 800, "dropout": 0.3, "lr": 0.002}
    path = save_model(model, tmp_path / "small.pt", list("abcde"), "transfer", settings=settings)
    loaded, _ = load_model(path)
    assert len(loaded.heads) == 2 and loaded.heads[0].classifier.in_features == 2 * 32 and loaded.pad_samples == 800
    clips = torch.randn(2, 1, 16000) * 0.1
    with torch.no_grad():
        assert torch.equal(loaded(clips), model(clips))


def test_heads_on_an_inner_layer_join_the_average_and_survive_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = EmbeddingClassifier(num_classes=5, num_heads=1, width=32, inner_layer="pool3", num_inner_heads=2).eval()
    assert model.inner_heads[0].layers[0].in_channels == 192, "pool3: 96 channels x 2 mel bands per step"
    clips = torch.randn(2, 1, 16000) * 0.1
    with torch.no_grad():
        embeddings, inner = model.embed_all(clips)  # (2, 9, 96), (2, 27, 192)
        by_hand = torch.stack(
            [F.log_softmax(model.heads[0](embeddings), dim=1)]
            + [F.log_softmax(head(inner), dim=1) for head in model.inner_heads]
        ).mean(dim=0)
        torch.testing.assert_close(model(clips), F.log_softmax(by_hand, dim=1))
        with pytest.raises(ValueError, match="also has heads on layer 'pool3'"):
            model.classify_embeddings(embeddings)
    settings = {"num_heads": 1, "width": 32, "inner_layer": "pool3", "num_inner_heads": 2}
    loaded, _ = load_model(save_model(model, tmp_path / "inner.pt", list("abcde"), "transfer", settings=settings))
    assert len(loaded.inner_heads) == 2 and loaded.inner_layer == "pool3"
    with torch.no_grad():
        assert torch.equal(loaded(clips), model(clips))


def test_shipped_model_hears_a_word_and_hears_nothing_in_noise(shipped):
    model, labels = shipped
    # never trained on: a seed of its own (training used seed 1, the model card's measurement 20261125)
    sounds, kinds = non_speech_clips(2, seed=4242)
    assert sounds.shape == (2 * len(NON_SPEECH_KINDS), 1, 16000) and kinds[:2] == ["silence", "silence"]
    with torch.no_grad():
        answers = [labels[i] for i in model(sounds).argmax(dim=1).tolist()]
    rejected = [kind for kind, answer in zip(kinds, answers) if answer == SILENCE_LABEL]
    assert len(rejected) >= len(kinds) - 1, f"only {rejected} of {kinds} were heard as no word: {answers}"

    testing = SpeechCommands(BUNDLED_ROOT, subset="testing", verbose=False)
    index = testing.files.index(next(f for f in testing.files if f.startswith("yes/")))
    best = speechlib.classify_file(testing.root / testing.files[index], model, labels)
    assert best[0][0] == "yes" and verdict(best, float(model.reject_below)) is None


def test_verdict_names_silence_and_doubt():
    assert verdict([(SILENCE_LABEL, 0.9), ("yes", 0.05)]) == HEARD_NOTHING
    assert verdict([("yes", 0.3), ("no", 0.2)], reject_below=0.4) == NOT_A_WORD
    assert verdict([("yes", 0.5), ("no", 0.2)], reject_below=0.4) is None
    assert verdict([(UNKNOWN_LABEL, 0.6), ("yes", 0.3)]) == NOT_A_WORD  # speech, but none of the words


def test_non_speech_clips_are_reproducible_and_loud_enough():
    first, kinds = non_speech_clips(3, seed=7)
    again, _ = non_speech_clips(3, seed=7)
    other, _ = non_speech_clips(3, seed=8)
    assert torch.equal(first, again) and not torch.equal(first, other)
    peaks = first.abs().amax(dim=(1, 2))
    kinds = np.array(kinds)
    assert (peaks[kinds == "silence"] == 0).all()
    assert (peaks[kinds == "tone"] > 10 ** (-40 / 20) * 0.99).all() and (peaks <= 1).all()


def test_predict_uses_the_default_model_and_says_file_not_found(tmp_path, capsys):
    example = speechlib.data.REPO_DIR / "data" / "examples" / "yes_48k.wav"
    assert speechlib_cli("predict", example) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{example}: yes "), line

    silent = tmp_path / "quiet.wav"
    sf.write(silent, np.zeros(24000, dtype=np.float32), 16000)
    assert speechlib_cli("predict", silent) == 0
    assert capsys.readouterr().out.startswith(f"{silent}: {HEARD_NOTHING} ({SILENCE_LABEL} ")

    assert speechlib_cli("predict", tmp_path / "missing.wav") == 1
    assert capsys.readouterr().err.strip().endswith("missing.wav: file not found")
    assert speechlib_cli("predict", DEFAULT_MODEL, tmp_path / "missing.wav") == 1  # MODEL FILE still works
    assert "file not found" in capsys.readouterr().err


def test_evaluate_counts_an_extra_class_as_wrong_and_reports_macro_accuracy(shipped, tmp_path, capsys):
    # a small tree of bundled test clips of two words, 6 of "yes" and 3 of "no"
    testing = SpeechCommands(BUNDLED_ROOT, subset="testing", verbose=False)
    chosen = [f for f in testing.files if f.startswith("yes/")][:6] + [f for f in testing.files if f.startswith("no/")][
        :3
    ]
    tree = tmp_path / "tree"
    for name in chosen:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(testing.root / name, tree / name)
    (tree / "testing_list.txt").write_text("".join(f"{name}\n" for name in chosen))

    report = tmp_path / "shipped.json"
    assert speechlib_cli("evaluate", DEFAULT_MODEL, "--data", tree, "--json", report, "--quiet") == 0
    result = json.loads(report.read_text())
    assert set(result["per_class"]) == {"no", "yes"}
    assert result["macro_accuracy"] == pytest.approx(np.mean(list(result["per_class"].values())))
    assert result["accuracy"] >= 0.75
    assert "macro accuracy" in capsys.readouterr().out

    # the same model told that every clip is silence: all of its answers are the extra class, all wrong
    model, labels = shipped
    deaf = copy.deepcopy(model)
    deaf.log_prior[labels.index(SILENCE_LABEL)] = 100.0
    settings = load_checkpoint(DEFAULT_MODEL)["settings"]  # the shape of its heads
    deaf_path = save_model(deaf, tmp_path / "deaf.pt", labels, "transfer", settings=settings)
    assert speechlib_cli("evaluate", deaf_path, "--data", tree, "--json", report, "--quiet") == 0
    result = json.loads(report.read_text())
    assert result["accuracy"] == 0.0 and result["macro_accuracy"] == 0.0


def test_recorder_defaults_to_the_shipped_model_and_shows_any_error():
    recorder = Recorder()
    assert repr(recorder) == "Recorder(35 words, records 1.5 s)" and SILENCE_LABEL not in recorder.status
    silence = np.zeros(48000, dtype=np.float32)
    recorder._on_message(recorder, {"type": "recording", "sample_rate": 48000}, [memoryview(silence.tobytes())])
    assert recorder.verdict == HEARD_NOTHING and HEARD_NOTHING in recorder.status and recorder.error == ""

    def broken(waveforms):
        raise RuntimeError("the model broke")

    recorder.model.forward = broken
    recorder._on_message(recorder, {"type": "recording", "sample_rate": 48000}, [memoryview(silence.tobytes())])
    assert recorder.error == "RuntimeError: the model broke" and recorder.top3 == [] and recorder.verdict == ""
    with pytest.raises(ValueError, match="labels"):
        Recorder(recorder.model)


def test_rejected_agrees_with_verdict_clip_by_clip():
    from speechlib.transfer import rejected, verdict

    labels = ["no", "yes", "_silence_"]
    probabilities = torch.tensor(
        [
            [0.9, 0.05, 0.05],  # a confident word: kept
            [0.3, 0.3, 0.4],  # _silence_ wins: "I heard nothing"
            [0.25, 0.2, 0.55],  # _silence_ wins by far
            [0.45, 0.35, 0.2],  # a word, but under the threshold 0.5: "not one of the words"
        ]
    )
    assert rejected(probabilities, labels, 0.5).tolist() == [False, True, True, True]
    assert rejected(probabilities, labels, 0.1).tolist() == [False, True, True, False]
    # a model without a _silence_ class rejects by the threshold only
    assert rejected(probabilities[:, :2], labels[:2], 0.4).tolist() == [False, True, True, False]
    # with an _unknown_ class: speech that is none of the words is rejected too, even when it is sure
    with_unknown = torch.cat([probabilities * 0.5, torch.tensor([[0.5], [0.0], [0.0], [0.0]])], dim=1)
    assert rejected(with_unknown, [*labels, "_unknown_"], 0.1).tolist() == [True, True, True, False]
    for threshold in (0.1, 0.5):
        for row, refused in zip(probabilities, rejected(probabilities, labels, threshold)):
            best = sorted(zip(labels, row.tolist()), key=lambda pair: -pair[1])
            assert (verdict(best, threshold) is not None) == refused.item(), "rejected and verdict disagree"
