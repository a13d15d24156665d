"""DDP on 2 CPU processes (gloo, 127.0.0.1): ``fit`` gives each process its own augmentation, the
same weights and the BatchNorm statistics that speechlib.distributed promises; and
`torchrun --nproc_per_node=2 -m speechlib train`: identical weights, only rank 0 writes the model."""

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from speechlib import TrainConfig, fit
from speechlib.augment import WaveformAugment
from testkit import free_port, write_tone_tree

pytestmark = pytest.mark.slow  # two training processes in every test (spawned, or by torchrun)

MOMENTUM = 0.1  # BatchNorm's default


class NormalisedLinear(nn.Module):
    """BatchNorm straight on the waveform, then one linear layer: the statistics are easy to recompute."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(1, momentum=MOMENTUM)
        self.linear = nn.Linear(16000, 4)

    def forward(self, waveforms):  # (batch, 1, 16000) -> (batch, 4)
        return F.log_softmax(self.linear(self.norm(waveforms).flatten(1)), dim=1)


def _train_one_rank(rank: int, port: int, out: str) -> None:
    """One of the two processes: fit on a DistributedSampler's share; record what it saw."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    torch.manual_seed(rank)  # different initial weights: DDP must copy rank 0's to both
    model = NormalisedLinear()
    # every clip is the same waveform: whatever differs between the ranks' batches is augmentation
    waveform = torch.sin(torch.arange(16000) / 7.0)[None] * 0.3  # (1, 16000)
    dataset = torch.utils.data.TensorDataset(waveform.expand(32, 1, 16000).clone(), torch.arange(32) % 4)
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=3)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, sampler=sampler)
    augment = WaveformAugment(noise=torch.randn(3, 24000, generator=torch.Generator().manual_seed(9)) * 0.1)
    seen = {"augmented": [], "normalised": []}
    augment.register_forward_hook(lambda module, inputs, output: seen["augmented"].append(output.detach().clone()))
    model.norm.register_forward_pre_hook(
        lambda module, inputs: seen["normalised"].append(inputs[0].detach().clone()) if module.training else None
    )
    config = TrainConfig(num_epochs=2, batch_size=4, optimizer="sgd", lr=0.05, augment=augment, seed=11)
    history = fit(model, loader, config, torch.device("cpu"), progress=False)
    torch.save({"state_dict": model.state_dict(), "history": history, **seen}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def _expected_running_statistics(batches_per_rank: list[list[torch.Tensor]]) -> tuple[float, float]:
    """BatchNorm's update, step by step, with the mean over ranks of each step's batch mean and variance."""
    running_mean, running_var = 0.0, 1.0  # BatchNorm's initial values
    for step_batches in zip(*batches_per_rank):
        batch_mean = sum(batch.double().mean().item() for batch in step_batches) / len(step_batches)
        batch_var = sum(batch.double().var().item() for batch in step_batches) / len(step_batches)  # unbiased
        running_mean = (1 - MOMENTUM) * running_mean + MOMENTUM * batch_mean
        running_var = (1 - MOMENTUM) * running_var + MOMENTUM * batch_var
    return running_mean, running_var


def test_two_processes_augment_differently_and_keep_identical_weights_and_statistics(tmp_path):
    mp.start_processes(_train_one_rank, args=(free_port(), str(tmp_path)), nprocs=2, start_method="spawn")
    rank0, rank1 = (torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1))

    # the same clips went in; each rank drew its own augmentation (seeded with seed + rank)
    assert len(rank0["augmented"]) == len(rank1["augmented"]) == 2 * 4  # 2 epochs of 16 clips in batches of 4
    assert all(not torch.allclose(a, b) for a, b in zip(rank0["augmented"], rank1["augmented"]))

    for name in rank0["state_dict"]:  # DDP kept the weights (and the averaged statistics) identical
        assert torch.equal(rank0["state_dict"][name], rank1["state_dict"][name]), name
    del rank0["history"]["epoch_seconds"], rank1["history"]["epoch_seconds"]
    assert rank0["history"] == rank1["history"]  # losses and accuracies averaged over the ranks

    # the docstring's promise: running mean = BatchNorm on both ranks' batches together, step by step;
    # running variance = the mean of the ranks' batch variances
    expected_mean, expected_var = _expected_running_statistics([rank0["normalised"], rank1["normalised"]])
    assert rank0["state_dict"]["norm.running_mean"].item() == pytest.approx(expected_mean, rel=1e-4)
    assert rank0["state_dict"]["norm.running_var"].item() == pytest.approx(expected_var, rel=1e-4)
    rank0_only_mean, _ = _expected_running_statistics([rank0["normalised"]])  # what broadcast_buffers=True keeps
    assert rank0_only_mean != pytest.approx(expected_mean, rel=1e-3)


def test_two_processes_train_identical_weights(tmp_path):
    tree = write_tone_tree(tmp_path / "sc", 240, ["down", "no", "up", "yes"], num_speakers=20)
    out = tmp_path / "models" / "cnn.pt"
    env = {**os.environ, "SPEECHLIB_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "speechlib",
        "train",
        "--model",
        "cnn",
        "--data",
        str(tree),
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--quiet",
        "--save-all-ranks",
    ]
    result = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("epoch 1/3:") == 1  # only rank 0 logs
    assert "2 processes" in result.stdout

    rank0 = torch.load(out.with_name("cnn.pt.rank0"), weights_only=True)["state_dict"]
    rank1 = torch.load(out.with_name("cnn.pt.rank1"), weights_only=True)["state_dict"]
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    final = torch.load(out, weights_only=True)["state_dict"]
    assert all(torch.equal(final[name], rank0[name]) for name in final)

    history = json.loads(out.with_suffix(".json").read_text())["history"]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert json.loads(out.with_suffix(".json").read_text())["world_size"] == 2
