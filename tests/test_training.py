"""train / evaluate / save / load, and device choice, on tiny hand-made data (no files but temp ones)."""

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from speechlib import (
    CNN,
    SimpleNet,
    TrainConfig,
    confusion_matrix,
    evaluate,
    fit,
    load_checkpoint,
    load_model,
    pick_device,
    predict,
    save_model,
    train_one_epoch,
)
from speechlib.augment import WaveformAugment
from speechlib.training import atomic_save

CPU = torch.device("cpu")


def tiny_loader(num_clips=16, num_classes=4, batch_size=8, shuffle=False, generator=None):
    """Clips whose class is written in their loudness: learnable in a few steps."""
    targets = torch.arange(num_clips) % num_classes
    waveforms = torch.randn(num_clips, 1, 16000, generator=torch.Generator().manual_seed(1)) * 0.01
    waveforms[:, 0, :4000] += (targets[:, None].float() + 1) / num_classes
    dataset = torch.utils.data.TensorDataset(waveforms, targets)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def test_fit_learns_a_tiny_set_and_returns_the_history():
    torch.manual_seed(0)
    model = SimpleNet(num_classes=4)
    config = TrainConfig(num_epochs=15, batch_size=8, lr=1e-3)
    history = fit(model, tiny_loader(), config, CPU, val_loader=tiny_loader(batch_size=5), progress=False)
    per_epoch = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds")
    assert set(history) == {*per_epoch, "batch_loss"}
    assert all(len(history[key]) == 15 for key in per_epoch)
    assert len(history["batch_loss"]) == 15 * 2  # 16 clips in batches of 8
    assert history["train_loss"][0] == pytest.approx(sum(history["batch_loss"][:2]) / 2)
    assert history["train_loss"][-1] < 0.8 * history["train_loss"][0]
    assert history["train_accuracy"][-1] > history["train_accuracy"][0]
    assert history["lr"] == [1e-3] * 15 and all(s > 0 for s in history["epoch_seconds"])
    assert set(fit(model, tiny_loader(), config, CPU, progress=False)) == {*per_epoch[:2], *per_epoch[4:], "batch_loss"}


def test_fit_validates_after_every_epoch_with_the_model_of_that_epoch():
    seen_by_validation = []

    class Measured(SimpleNet):
        def forward(self, waveforms):
            if not self.training:  # validation: remember the weights it was measured with
                seen_by_validation.append(self.fc3.weight.detach().clone())
            return super().forward(waveforms)

    torch.manual_seed(0)
    model = Measured(num_classes=4)
    val_loader = tiny_loader(batch_size=16)
    history = fit(model, tiny_loader(), TrainConfig(num_epochs=3, batch_size=8), CPU, val_loader, progress=False)
    assert len(seen_by_validation) == 3 and not torch.equal(seen_by_validation[0], seen_by_validation[2])
    waveforms, targets = next(iter(val_loader))
    with torch.no_grad():
        log_probs = model.eval()(waveforms)
    assert history["val_loss"][-1] == pytest.approx(F.nll_loss(log_probs, targets).item())
    assert history["val_accuracy"][-1] == pytest.approx(evaluate(model, val_loader, CPU, list("abcd"))["accuracy"])


def test_fit_follows_torchs_cosine_schedule():
    model = SimpleNet(num_classes=4)
    config = TrainConfig(num_epochs=4, batch_size=8, optimizer="SGD", lr=0.1, schedule="cosine")
    history = fit(model, tiny_loader(), config, CPU, progress=False)
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=4)
    expected = []
    for _ in range(4):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        schedule.step()
    assert history["lr"] == expected
    assert history["lr"][0] == 0.1 and history["lr"][2] == pytest.approx(0.05)


def test_fit_builds_the_named_optimizer_and_refuses_unknown_settings():
    model = SimpleNet(num_classes=4)
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'.*adamw"):
        fit(model, tiny_loader(), TrainConfig(batch_size=8, optimizer="adamm"), CPU, progress=False)
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        fit(model, tiny_loader(), TrainConfig(batch_size=8, schedule="step"), CPU, progress=False)
    with pytest.raises(ValueError, match="batch size is 8, the config's 64"):
        fit(model, tiny_loader(), TrainConfig(batch_size=64), CPU, progress=False)


class IndexDataset(torch.utils.data.Dataset):
    """Clip ``i`` is ``i``'s loudness; ``order`` records the indices in the order they were read."""

    def __init__(self, num_clips=24):
        self.num_clips, self.order = num_clips, []

    def __len__(self):
        return self.num_clips

    def __getitem__(self, index):
        self.order.append(index)
        return torch.full((1, 16000), index / self.num_clips), index % 4


def test_fit_shuffles_as_a_function_of_seed_and_epoch():
    dataset = IndexDataset()
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=7)
    config = TrainConfig(num_epochs=3, batch_size=6, seed=7)
    fit(SimpleNet(num_classes=4), torch.utils.data.DataLoader(dataset, 6, sampler=sampler), config, CPU, progress=False)
    for epoch in range(3):  # the sampler was told each epoch
        sampler.set_epoch(epoch)
        assert dataset.order[24 * epoch : 24 * (epoch + 1)] == list(sampler)

    dataset = IndexDataset()
    loader = torch.utils.data.DataLoader(dataset, 6, shuffle=True, generator=torch.Generator())
    fit(SimpleNet(num_classes=4), loader, config, CPU, progress=False)
    for epoch in range(3):  # a loader's own generator is seeded with seed + epoch
        seeded = torch.Generator().manual_seed(7 + epoch)
        expected = next(iter(torch.utils.data.DataLoader(range(24), 24, shuffle=True, generator=seeded))).tolist()
        assert dataset.order[24 * epoch : 24 * (epoch + 1)] == expected
    assert dataset.order[:24] != dataset.order[24:48]


def test_fit_with_the_same_seed_gives_the_same_weights():
    def run(seed):
        torch.manual_seed(0)  # the same initial weights every time
        model = SimpleNet(num_classes=4)
        augment = WaveformAugment(noise=torch.randn(2, 20000) * 0.1)  # draws random numbers on every batch
        config = TrainConfig(num_epochs=2, batch_size=4, augment=augment, seed=seed)
        history = fit(model, tiny_loader(batch_size=4, shuffle=True), config, CPU, progress=False)
        return history["batch_loss"], model.state_dict()

    losses, weights = run(seed=3)
    same_losses, same_weights = run(seed=3)
    other_losses, _ = run(seed=4)
    assert losses == same_losses and losses != other_losses
    assert all(torch.equal(weights[name], same_weights[name]) for name in weights)


def test_fit_augments_training_batches_only():
    class Marker(nn.Module):
        """An augmentation that is easy to spot: it adds 100 to every sample."""

        def forward(self, waveforms):
            return waveforms + 100.0

    largest = {True: [], False: []}  # training mode -> the largest sample the model saw, per batch

    class Watched(SimpleNet):
        def forward(self, waveforms):
            largest[self.training].append(waveforms.max().item())
            return super().forward(waveforms)

    config = TrainConfig(num_epochs=2, batch_size=8, augment=Marker())
    fit(Watched(num_classes=4), tiny_loader(), config, CPU, val_loader=tiny_loader(), progress=False)
    assert len(largest[True]) == 4 and all(value > 99 for value in largest[True])
    assert len(largest[False]) == 4 and all(value < 2 for value in largest[False])


class Interrupted:
    """A loader that stops the run, as Ctrl-C would, at the second batch of epoch ``stop_epoch``."""

    def __init__(self, loader, stop_epoch):
        self.loader, self.stop_epoch, self.epoch, self.batch_size = loader, stop_epoch, -1, loader.batch_size

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.epoch += 1
        for index, batch in enumerate(self.loader):
            if self.epoch == self.stop_epoch and index == 1:
                raise KeyboardInterrupt
            yield batch


def test_resume_after_an_interruption_gives_the_same_weights_bit_for_bit(tmp_path):
    """Shuffling, augmentation, dropout-like draws and the cosine schedule all continue where they stopped."""

    def run(loader, **resume_arguments):
        torch.manual_seed(0)
        model = CNN(num_classes=4)  # BatchNorm statistics and SpecAugment masks too
        augment = WaveformAugment(noise=torch.randn(2, 20000, generator=torch.Generator().manual_seed(2)) * 0.1)
        config = TrainConfig(
            num_epochs=3, batch_size=4, optimizer="adamw", lr=3e-3, schedule="cosine", augment=augment, seed=5
        )
        history = fit(model, loader, config, CPU, tiny_loader(batch_size=8), progress=False, **resume_arguments)
        return model.state_dict(), history

    checkpoint = tmp_path / "run.ckpt"
    weights, history = run(tiny_loader(batch_size=4, shuffle=True))
    with pytest.raises(KeyboardInterrupt):
        run(Interrupted(tiny_loader(batch_size=4, shuffle=True), stop_epoch=2), checkpoint=checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] == 2 and len(saved["history"]["train_loss"]) == 2
    assert saved["rng_states"][0]["cpu"].dtype == torch.uint8

    resumed_weights, resumed_history = run(tiny_loader(batch_size=4, shuffle=True), checkpoint=checkpoint, resume=True)
    for name in weights:
        assert torch.equal(weights[name], resumed_weights[name]), name
    for key in ("batch_loss", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        assert resumed_history[key] == history[key], key


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    config = TrainConfig(num_epochs=1, batch_size=8, lr=1e-3)
    fit(SimpleNet(num_classes=4), tiny_loader(), config, CPU, progress=False, checkpoint=checkpoint)
    more_epochs = TrainConfig(num_epochs=2, batch_size=8, lr=1e-3)  # a constant rate can go on longer
    history = fit(
        SimpleNet(num_classes=4), tiny_loader(), more_epochs, CPU, progress=False, checkpoint=checkpoint, resume=True
    )
    assert len(history["train_loss"]) == 2
    other_rate = TrainConfig(num_epochs=2, batch_size=8, lr=1e-2)
    with pytest.raises(ValueError, match=r"run.ckpt: was trained with lr=0.001, not 0.01"):
        fit(
            SimpleNet(num_classes=4), tiny_loader(), other_rate, CPU, progress=False, checkpoint=checkpoint, resume=True
        )
    with pytest.raises(ValueError, match="its labels differs"):
        fit(
            SimpleNet(num_classes=4),
            tiny_loader(),
            more_epochs,
            CPU,
            progress=False,
            checkpoint=checkpoint,
            resume=True,
            checkpoint_info={"labels": ["a", "b", "c", "d"]},
        )


def test_train_one_epoch_is_the_plain_loop_on_the_same_seeded_batches():
    """Notebook 04 checks this on real clips; the progress bar must not change the shuffled order."""
    generator = torch.Generator()
    loader = tiny_loader(shuffle=True, batch_size=4, generator=generator)
    torch.manual_seed(0)
    by_hand = SimpleNet(num_classes=4)
    replay = SimpleNet(num_classes=4)
    replay.load_state_dict(by_hand.state_dict())

    optimizer = torch.optim.SGD(by_hand.parameters(), lr=0.1)
    generator.manual_seed(0)
    losses_by_hand = []
    for waveforms, targets in loader:
        optimizer.zero_grad()
        loss = F.nll_loss(by_hand(waveforms), targets)
        loss.backward()
        optimizer.step()
        losses_by_hand.append(loss.item())

    generator.manual_seed(0)
    losses, _ = train_one_epoch(replay, loader, torch.optim.SGD(replay.parameters(), lr=0.1), CPU, progress=True)
    assert losses == losses_by_hand
    for a, b in zip(by_hand.parameters(), replay.parameters()):
        assert torch.equal(a, b)


class Answers(nn.Module):
    """A stand-in model: the first sample of each clip is the class it predicts."""

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes

    def forward(self, waveforms):
        predicted = waveforms[:, 0, 0].long()
        return torch.log(F.one_hot(predicted, self.num_classes).float() * 0.97 + 0.01)


def test_evaluate_counts_a_hand_made_example():
    labels = ["no", "up", "yes"]
    predicted = torch.tensor([0, 0, 1, 1, 1, 0])
    targets = torch.tensor([0, 0, 1, 1, 0, 1])  # nothing is "yes"
    waveforms = predicted.float()[:, None, None].expand(-1, 1, 10).clone()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(waveforms, targets), batch_size=4)

    results = evaluate(Answers(3), loader, CPU, labels)
    assert results["accuracy"] == pytest.approx(4 / 6)
    assert results["per_class"] == {"no": pytest.approx(2 / 3), "up": pytest.approx(2 / 3), "yes": None}
    assert results["confusion"].tolist() == [[2, 1, 0], [1, 2, 0], [0, 0, 0]]  # [true, predicted]
    assert torch.equal(results["predictions"], predicted) and torch.equal(results["targets"], targets)


def test_confusion_matrix_rows_are_true_columns_predicted():
    matrix = confusion_matrix(torch.tensor([2, 2, 0]), torch.tensor([1, 2, 0]), num_classes=3)
    assert matrix.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]


def test_save_and_load_give_identical_predictions(tmp_path):
    torch.manual_seed(0)
    model = SimpleNet(num_classes=4)
    path = save_model(model, tmp_path / "models" / "simplenet.pt", ["a", "b", "c", "d"], "simplenet", epochs=3)
    checkpoint = load_checkpoint(path)
    assert checkpoint["model_name"] == "simplenet" and checkpoint["labels"] == ["a", "b", "c", "d"]
    assert checkpoint["epochs"] == 3
    assert torch.load(path, weights_only=True)["state_dict"].keys() == model.state_dict().keys()

    loaded, labels = load_model(path)
    assert labels == ["a", "b", "c", "d"] and not loaded.training
    loader = tiny_loader()
    assert torch.equal(predict(loaded, loader, CPU)[0], predict(model, loader, CPU)[0])
    with torch.no_grad():
        waveforms = next(iter(loader))[0]
        assert torch.equal(loaded(waveforms), model.eval()(waveforms))


def test_atomic_save_leaves_no_temporary_file(tmp_path):
    path = atomic_save({"x": torch.ones(3)}, tmp_path / "a.pt")
    assert os.listdir(tmp_path) == ["a.pt"]
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.ones(3))
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others, like any saved file


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = atomic_save({"x": torch.ones(3)}, tmp_path / "a.pt")
    before = path.read_bytes()

    def crash_halfway(obj, f):
        f.write(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"x": torch.zeros(3)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.pt"]


def test_loading_a_bad_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="garbage.pt: not a readable speechlib model"):
        load_checkpoint(garbage)
    foreign = atomic_save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="foreign.pt: not a speechlib model file"):
        load_checkpoint(foreign)


def test_pick_device(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in ("cpu", "cuda", "mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="'cuda' was asked for but is not available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        pick_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


def test_atomic_write_keeps_the_old_text_when_writing_fails(tmp_path):
    from speechlib.files import atomic_write

    path = tmp_path / "notes.txt"
    with atomic_write(path, "w") as f:
        f.write("first")
    with pytest.raises(ValueError), atomic_write(path, "w") as f:
        f.write("half of the sec")
        raise ValueError("crash while writing")
    assert path.read_text() == "first" and os.listdir(tmp_path) == ["notes.txt"]
