"""speechlib train / evaluate / predict on tiny synthetic trees: files written, metrics that agree
with each other, exact resume, label mapping on a subset of words, and clear errors."""

import json
import re
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from speechlib import SimpleNet, SpeechCommands, center_on_loudest, cli, commands, load_model, pad_trim, read_clip
from speechlib.training import save_model
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

    # a word the model does not know is scored as unknown; this model has no class and no threshold to reject with
    foreign = write_tone_tree(tmp_path / "foreign", 20, ["wow", "yes"], num_speakers=10)
    mixed = tmp_path / "mixed.json"
    assert speechlib("evaluate", out, "--data", foreign, "--subset", "training", "--json", mixed, "--quiet") == 0
    mixed_result = json.loads(mixed.read_text())
    assert mixed_result["unknown_words"] == ["wow"]
    per_class = mixed_result["per_class"]
    assert mixed_result["unknown_rejected"] == per_class["wow"] == per_class["_unknown_"] == 0.0
    assert "scored as unknown (right when rejected): wow" in capsys.readouterr().out

    strangers = write_tone_tree(tmp_path / "strangers", 20, ["bird", "wow"], num_speakers=10)
    assert speechlib("evaluate", out, "--data", strangers, "--subset", "training", "--quiet") == 1
    assert f"{strangers}: none of its words (bird, wow) is known to {out}" in capsys.readouterr().err


def untrained_model(path, labels: list[str], seed: int = 0):
    """A SimpleNet with random weights saved at ``path``: no training, and answers that differ from clip to clip."""
    torch.manual_seed(seed)
    model = SimpleNet(num_classes=len(labels))
    with torch.no_grad():
        model.fc3.weight.mul_(20)  # sharper answers: the clips get different best guesses and top probabilities
    return save_model(model, path, labels, "simplenet")


def scored_by_hand(model_path, tree, subset: str, reject_below: float) -> dict[str, list[bool]]:
    """Each clip of ``tree`` read from its file and scored: a known word right when it is the best guess, an
    unknown word right when rejected (best guess _silence_ or _unknown_, or top probability below the threshold)."""
    model, labels = load_model(model_path)
    clips = SpeechCommands(tree, subset=subset, verbose=False)
    waveforms = torch.stack([pad_trim(clips[i][0]) for i in range(len(clips))])  # (n, 1, 16000)
    with torch.no_grad():
        probabilities = model(waveforms).exp()
    right = {}
    for i in range(len(clips)):
        word, best, top = clips[i][2], labels[probabilities[i].argmax()], probabilities[i].max().item()
        refused = best in ("_silence_", "_unknown_") or top < reject_below
        right.setdefault(word, []).append(best == word if word in labels else refused)
    return right


@pytest.mark.parametrize(
    "labels, reject_below",
    [(["no", "yes", "_silence_", "_unknown_"], 0.0), (["no", "yes", "_silence_", "_unknown_"], 0.4),
     (["no", "yes"], 0.6)],
)  # fmt: skip
def test_evaluate_scores_words_the_model_does_not_know_as_unknown(
    tree, tmp_path, monkeypatch, capsys, labels, reject_below
):
    model_path = untrained_model(tmp_path / "m.pt", labels)

    def load_with_threshold(path):
        model, model_labels = load_model(path)
        model.reject_below = reject_below  # what a transfer model carries: its "not one of the words" threshold
        return model, model_labels

    monkeypatch.setattr(commands, "load_model", load_with_threshold)
    out = tmp_path / "eval.json"
    assert speechlib("evaluate", model_path, "--data", tree, "--subset", "training", "--json", out, "--quiet") == 0
    printed, result = capsys.readouterr().out, json.loads(out.read_text())

    right = scored_by_hand(model_path, tree, "training", reject_below)
    unknown = [hit for word in ("down", "up") for hit in right[word]]
    assert 0 < sum(unknown) < len(unknown)  # some rejected, some not: the scoring is put to the test
    assert result["unknown_words"] == ["down", "up"]
    assert list(result["per_class"]) == ["down", "no", "up", "yes", "_unknown_"]
    for word, hits in right.items():
        assert result["per_class"][word] == pytest.approx(sum(hits) / len(hits)), word
    assert result["unknown_rejected"] == result["per_class"]["_unknown_"] == pytest.approx(sum(unknown) / len(unknown))
    everything = [hit for hits in right.values() for hit in hits]
    assert result["accuracy"] == pytest.approx(sum(everything) / len(everything))
    pooled = [result["per_class"][word] for word in ("no", "yes", "_unknown_")]  # the unknown words: one class
    assert result["macro_accuracy"] == pytest.approx(sum(pooled) / 3)
    assert "scored as unknown (right when rejected): down, up" in printed
    assert f"unknown words rejected {result['unknown_rejected']:.4f} ({len(unknown)} clips)" in printed

    # a tree of known words only: the known words score as before, and nothing is scored as unknown
    known = subset_tree(tree, ["no", "yes"], tmp_path / "known_words")
    assert speechlib("evaluate", model_path, "--data", known, "--subset", "training", "--json", out, "--quiet") == 0
    printed, only_known = capsys.readouterr().out, json.loads(out.read_text())
    assert only_known["per_class"] == {word: result["per_class"][word] for word in ("no", "yes")}
    assert only_known["unknown_rejected"] is None and only_known["unknown_words"] == []
    assert "unknown" not in printed and "(the mean of the 2 per-word accuracies)" in printed


def test_evaluate_needs_a_word_the_model_knows(tmp_path, capsys):
    model_path = untrained_model(tmp_path / "m.pt", ["no", "yes", "_silence_", "_unknown_"])
    strangers = write_tone_tree(tmp_path / "strangers", 20, ["bird", "wow"], num_speakers=10)
    assert speechlib("evaluate", model_path, "--data", strangers, "--subset", "training", "--quiet") == 1
    assert capsys.readouterr().err.startswith(
        f"speechlib evaluate: {strangers}: none of its words (bird, wow) is known to {model_path} (it knows 4 words: "
    )


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


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"], ["listen"], ["enrol"]])
def test_help_explains_each_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        speechlib(*command, "--help")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: speechlib" in text and len(text) > 300
