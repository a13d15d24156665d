"""Choosing where tensors live. Taught in notebook 04."""

from __future__ import annotations

import torch


class DeviceUnavailableError(RuntimeError):
    """A device was asked for by name but this machine does not have it."""


def pick_device(preference: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; ``"cpu"``, ``"cuda"``, ``"mps"`` force one.

    Asking for a device that is not there raises a clear error instead of failing later.
    """
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if preference not in available:
        raise ValueError(f"unknown device {preference!r}: choose auto, cpu, cuda or mps")
    if not available[preference]:
        raise DeviceUnavailableError(f"device {preference!r} was asked for but is not available on this machine")
    return torch.device(preference)
