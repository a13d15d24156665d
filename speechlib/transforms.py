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


def center_on_loudest(
    waveform: torch.Tensor, num_samples: int = CLIP_SAMPLES, window: int = CLIP_SAMPLES // 2
) -> torch.Tensor:
    """Cut (or zero-pad) ``waveform`` to ``num_samples``, centred on its loudest part.

    Taught in notebook 10: your own recording is rarely one second with the word in the middle,
    as the training clips are. ``(1, n) -> (1, num_samples)``.

    The loudest part is where the average energy over ``window`` samples (0.5 s at 16 kHz, about
    one short word) peaks: a click or pop is too short to win against a spoken word, and a word
    ends up centred as a whole rather than on its loudest syllable. A recording
    longer than ``num_samples`` keeps the ``num_samples`` around that peak (shifted to stay inside
    the recording); a shorter one is padded with silence on both sides.
    """
    length = waveform.shape[-1]
    if length <= num_samples:
        left = (num_samples - length) // 2
        return F.pad(waveform, (left, num_samples - length - left))
    energy = waveform.pow(2).mean(dim=0, keepdim=True)  # (1, n): mono energy per sample
    window = min(window, length)
    envelope = F.avg_pool1d(energy.unsqueeze(0), window, stride=1).squeeze()  # (n - window + 1,)
    center = int(envelope.argmax()) + window // 2
    start = min(max(center - num_samples // 2, 0), length - num_samples)
    return waveform[..., start : start + num_samples]
