"""Making clips the same length, and turning a batch of clips into tensors.

Taught in notebook 02 (refining lengths) and notebook 04 (batches).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import CLIP_SAMPLES


def pad_trim(waveform: torch.Tensor, num_samples: int = CLIP_SAMPLES) -> torch.Tensor:
    """Zero-pad at the end, or cut the end off, so the last dimension is ``num_samples``.

    Taught in notebook 02: unlike the "lazy" filter, no clip is thrown away.
    ``(1, 12000) -> (1, 16000)``, ``(1, 17000) -> (1, 16000)``.
    """
    length = waveform.shape[-1]
    if length >= num_samples:
        return waveform[..., :num_samples]
    return F.pad(waveform, (0, num_samples - length))


def make_collate(labels: list[str], num_samples: int = CLIP_SAMPLES):
    """A DataLoader ``collate_fn`` that pads/trims each clip and maps words to class indices.

    Taught in notebook 04. Returns batches ``(waveforms (batch, 1, num_samples), targets (batch,))``.
    """
    label_index = {label: i for i, label in enumerate(labels)}

    def collate(items):
        waveforms = torch.stack([pad_trim(item[0], num_samples) for item in items])  # (batch, 1, n)
        targets = torch.tensor([label_index[item[2]] for item in items])  # (batch,)
        return waveforms, targets

    return collate
