"""speechlib train / evaluate / predict on tiny synthetic trees: files written, metrics that agree
with each other, exact resume, label mapping on a subset of words, and clear errors."""

import json
import re
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from speechlib import center_on_loudest, cli, load_model, read_clip
from testkit import write_tone_tree

WORDS = ["down", "no", "up", "yes"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def tree(tmp_path):
    return write_tone_tree(tmp_path / "sc", 160, WORDS, num_speakers=20)


def speechlib(*argv) -> int:
    return cli.main([str(a) for a in argv])


@pytest.mark.slow  # trains with `speechlib train`
def test_train_evaluate_predict(tree, tmp_path, capsys):
    out = tmp_path / "models" / "simplenet.pt"
    assert (
        speechlib(
            "train", "--model", "simplenet", "--data", tree, "--epochs", 2, "--batch-size", 16, "--out", out, "--quiet"
        )
        == 0
    )
    assert out.is_file() and (tmp_path / "models" / "simplenet.pt.ckpt").is_file()
    metrics = json.loads((tmp_path / "models" / "simplenet.json").read_text())
    assert len(metrics["history"]["train_loss"]) == len(metrics["history"]["val_accuracy"]) == 2
    assert set(metrics["testing"]["per_class"]) == set(WORDS)
    assert 0.0 <= metrics["validation"]["accuracy"] <= 1.0

    results = tmp_path / "eval.json"
    assert speechlib("evaluate", out, "--data", tree, "--subset", "testing", "--json", results, "--quiet") == 0
    evaluation = json.loads(results.read_text())
    assert evaluation["accuracy"] == pytest.approx(metrics["testing"]["accuracy"])
    assert evaluation["per_class"] == pytest.approx(metrics["testing"]["per_class"])
    assert f"accuracy {evaluation['accuracy']:.4f}" in capsys.readouterr().out

    clips = sorted((tree / "yes").iterdir())[:2]
    assert speechlib("predict", out, *clips) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    model, labels = load_model(out)
    for clip, line in zip(clips, lines):
        guesses = re.findall(r"(\w+) (\d\.\d{3})", line.split(": ", 1)[1])
        assert len(guesses) == 3 and all(word in WORDS for word, _ in guesses)
        probabilities = [float(p) for _, p in guesses]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.001
        with torch.no_grad():
            expected = model(center_on_loudest(read_clip(clip)).unsqueeze(0)).argmax().item()
        assert guesses[0][0] == labels[expected]


def test_predict_names_nan_audio_and_a_directory(tmp_path, capsys):
    nan_path = tmp_path / "nan.wav"
    sf.write(nan_path, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    for path, problem in [(nan_path, "16,000 of 16,000 samples are NaN or infinite, not sound"),
                          (tmp_path, "is a directory, not an audio file")]:  # fmt: skip
        assert speechlib("predict", path) == 1  # the default model
        assert capsys.readouterr().err == f"speechlib predict: {path}: {problem}\n"


@pytest.mark.slow  # trains with `speechlib train`
def test_predict_listens_to_the_loudest_second_of_a_long_recording(tree, tmp_path, capsys):
    out = tmp_path / "cnn.pt"
    assert (
        speechlib("train", "--model", "cnn", "--data", tree, "--epochs", 1, "--batch-size", 32, "--out", out, "--quiet")
        == 0
    )
    word = read_clip(min((tree / "up").iterdir()))  # (1, <= 16000)
    recording = torch.zeros(1, 48000)  # 3 s: silence, then the word near the end, as people record
    recording[:, 30000 : 30000 + word.shape[-1]] = word
    path = tmp_path / "long.wav"
    sf.write(path, recording[0].numpy(), 16000, subtype="FLOAT")
    capsys.readouterr()  # forget what training printed
    assert speechlib("predict", out, path) == 0
    printed = re.findall(r"(\w+) (\d\.\d{3})", capsys.readouterr().out.split(": ", 1)[1])

    model, labels = load_model(out)
    with torch.no_grad():  # what the model says about the second around the word, not the silent first second
        probabilities = model(center_on_loudest(recording).unsqueeze(0)).exp()[0]
    best = probabilities.topk(3)
    assert printed == [(labels[i], f"{p:.3f}") for p, i in zip(best.values.tolist(), best.indices.tolist())]
    with torch.no_grad():
        silent_start = model(recording[:, None, :16000]).exp()[0]
    assert not np.allclose(probabilities.numpy(), silent_start.numpy(), atol=1e-3)  # the choice matters


@pytest.mark.slow  # trains with `speechlib train`
@pytest.mark.parametrize("model_name", ["simplenet", "cnn"])
def test_resume_gives_the_same_weights(tree, tmp_path, model_name):
    straight, resumed = tmp_path / "straight.pt", tmp_path / "resumed.pt"
    common = ["--model", model_name, "--data", tree, "--batch-size", 32, "--quiet"]
    assert speechlib("train", *common, "--epochs", 2, "--out", straight) == 0
    assert speechlib("train", *common, "--epochs", 1, "--out", resumed) == 0  # "interrupted" after epoch 1
    assert speechlib("train", *common, "--epochs", 2, "--out", resumed, "--resume") == 0
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for name in a["state_dict"]:
        assert torch.equal(a["state_dict"][name], b["state_dict"][name]), name
    assert a["history"]["batch_loss"] == b["history"]["batch_loss"]
    one_epoch = torch.load(tmp_path / "resumed.pt.ckpt", weights_only=True)
    assert one_epoch["epoch"] == 2


@pytest.mark.slow  # trains with `speechlib train`
def test_resume_refuses_other_settings(tree, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert speechlib("train", "--data", tree, "--epochs", 1, "--batch-size", 32, "--out", out, "--quiet") == 0
    assert (
        speechlib("train", "--data", tree, "--epochs", 2, "--batch-size", 16, "--out", out, "--quiet", "--resume") == 1
    )
    assert "batch_size=32" in capsys.readouterr().err


def subset_tree(tree, words, destination):
    """A copy of ``tree`` with only ``words`` (and the split lists filtered to them)."""
    for word in words:
        shutil.copytree(tree / word, destination / word)
    for name in ("validation_list.txt", "testing_list.txt"):
        kept = [line for line in (tree / name).read_text().splitlines() if line.split("/")[0] in words]
        (destination / name).write_text("".join(f"{line}\n" for line in kept))
    return destination


@pytest.mark.slow  # trains with `speechlib train`
def test_evaluate_on_a_subset_of_words_maps_labels(tree, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert speechlib("train", "--data", tree, "--epochs", 2, "--batch-size", 16, "--out", out, "--quiet") == 0
    full, part = tmp_path / "full.json", tmp_path / "part.json"
    assert speechlib("evaluate", out, "--data", tree, "--json", full, "--quiet") == 0
    small = subset_tree(tree, ["up", "yes"], tmp_path / "two_words")
    assert speechlib("evaluate", out, "--data", small, "--json", part, "--quiet") == 0
    full_result, part_result = json.loads(full.read_text()), json.loads(part.read_text())
    assert set(part_result["per_class"]) == {"up", "yes"}
    for word in ("up", "yes"):  # same clips, same model: same per-word accuracy
        assert part_result["per_class"][word] == pytest.approx(full_result["per_class"][word])

    foreign = write_tone_tree(tmp_path / "foreign", 20, ["yes", "wow"], num_speakers=10)
    assert speechlib("evaluate", out, "--data", foreign, "--subset", "training", "--quiet") == 1
    assert "words unknown to" in capsys.readouterr().err


@pytest.mark.slow  # trains with `speechlib train`
def test_clear_errors(tree, tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        speechlib("train", "--model", "transformer", "--data", tree)
    assert exit_info.value.code == 2 and "invalid choice: 'transformer'" in capsys.readouterr().err

    assert speechlib("train", "--data", tmp_path / "nowhere", "--epochs", 1) == 1
    assert "nowhere: dataset root not found" in capsys.readouterr().err

    monkeypatch.setenv("SPEECHLIB_HOME", str(tmp_path))  # a project with nothing downloaded
    assert speechlib("train", "--data", "real", "--epochs", 1) == 1
    assert "run `speechlib download`" in capsys.readouterr().err

    assert speechlib("evaluate", tmp_path / "missing.pt", "--data", tree) == 2  # an argument error
    assert "missing.pt: no such model file" in capsys.readouterr().err

    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    out = tmp_path / "m.pt"
    assert speechlib("train", "--data", tree, "--epochs", 1, "--out", out, "--quiet") == 0
    capsys.readouterr()
    assert speechlib("predict", out, not_audio) == 1
    assert "notes.wav: not a readable audio file" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"]])
def test_help_explains_each_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        speechlib(*command, "--help")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: speechlib" in text and len(text) > 300
