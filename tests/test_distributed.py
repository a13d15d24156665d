"""`torchrun --nproc_per_node=2 -m speechlib train` on CPU (gloo, 127.0.0.1): both processes end
with identical weights, only rank 0 writes the model, and the loss falls."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import free_port, write_tone_tree

pytestmark = pytest.mark.slow  # torchrun: two training processes


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
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
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
    assert history["epoch_loss"][-1] < history["epoch_loss"][0]
    assert json.loads(out.with_suffix(".json").read_text())["world_size"] == 2
