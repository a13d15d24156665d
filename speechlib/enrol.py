"""Teach a model your own word from a few recordings: few-shot enrolment. Taught in notebook 12.

    >>> new_model, new_labels = enrol(model, labels, "banana", recordings)   # doctest: +SKIP
    >>> save_enrolled(new_model, new_labels, "models/banana.pt")             # doctest: +SKIP

The speech embedding (:mod:`speechlib.embedding`) puts the same word said by different people close together,
so a model built on it (:class:`speechlib.transfer.EmbeddingClassifier`) can learn a new word without
retraining: every head gets **one more output row**, and only that row is fitted. Nothing the model had changes,
so its other words, ``_silence_`` and ``_unknown_`` keep their scores, and the new word can only take clips from
them where it scores higher.

What the row reads: the head's pooled features, and (``widen``, the default) the speech embedding itself. A head
trained to put every word it was not taught into ``_unknown_`` has learnt to blur the differences between those
words; the embedding has not. So each head first gets extra channels that carry its input unchanged to its last
layer (:func:`widened`; the old rows weigh them 0, so the old answers stay exactly the same).

How the row is fitted (``method``), starting from the prototype, the direction from the counter-examples' mean
to the clips' mean:

- ``"prototype"`` (the default, chosen by ``tools/measure_enrolment.py``): the direction is kept; only the row's
  length and bias are fitted (nearest class mean);
- ``"train"``: every number of the row is fitted too. On real voices (realdev, 5 clips) it recognised no more of
  the word's other clips and let through slightly more other words.

Both with weight decay, so that five clips cannot make the row sure of themselves alone.

Both fit the same loss on the same material: the enrolment clips, each also shifted in time and with a little
noise added (the word may start anywhere in a stream), must get the new word; a fixed sample of other speech
(bundled clips of other words, ``data/unknown_speech``), generated non-speech, and the enrolment clips played
backwards and shuffled (the same voice and room saying no word: :func:`scrambled`) must not. The heads'
convolutions are frozen, so their pooled features are computed once and the fit is a small convex problem on
them: seconds on one core. The new word gets a log prior of -1 (:data:`NEW_WORD_LOG_PRIOR`), as the model's
``_unknown_`` has its own: it must win by a margin. The new model keeps the heads' structure (wider), so
streaming (:mod:`speechlib.listen`) works as for any model; :func:`save_enrolled` saves it with the settings that
rebuild it.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .data import CLIP_SAMPLES, SAMPLE_RATE, DataError, SpeechCommands, read_clip, to_mono
from .paths import data_dir
from .transfer import EmbeddingClassifier, non_speech_clips
from .transforms import center_on_loudest, pad_trim

MIN_CLIPS = 3  # fewer cannot say what is the word and what is the speaker or the room
METHODS = ("prototype", "train")
SILENT_DBFS = -60.0  # a recording whose loudest second peaks below this holds no word (realdev: >= -54)
SHIFT_SECONDS = 0.15  # the enrolment copies move by up to this much
COPIES = 8  # shifted, noisy copies of each enrolment clip, besides the clip itself
NEGATIVES_PER_WORD = 4  # clips of every other bundled word in the "must not be the new word" sample
UNKNOWN_NEGATIVES = 64  # clips of data/unknown_speech in it
NON_SPEECH_PER_KIND = 2  # generated non-speech clips of each kind in it
NEGATIVE_SEED = 19
DECAY = 0.3  # weight decay of the new rows
KNOWN_WEIGHT = 1.0  # the counter-examples of the model's own words, as a group of their own
NEW_WORD_LOG_PRIOR = -1.0  # the new word must beat the old classes by 1 nat (tools/measure_enrolment.py)


def check_word(word: str, labels: list[str]) -> str:
    """``word`` stripped of spaces at its ends, or a ``ValueError`` saying why it cannot be a new label."""
    if not isinstance(word, str) or not word.strip():
        raise ValueError("the new word needs a name: got an empty one")
    word = word.strip()
    if "/" in word or "\\" in word:
        raise ValueError(f"the new word {word!r} contains a slash: a label may become a folder name, so it cannot")
    if word.startswith("_"):
        raise ValueError(f"the new word {word!r} starts with '_': such labels (_silence_, _unknown_) are never words")
    if word in labels:
        raise ValueError(f"the model already knows {word!r}: enrol a word that is not among its {len(labels)} labels")
    return word


def prepare_clips(recordings, names: list[str] | None = None, min_clips: int = MIN_CLIPS) -> torch.Tensor:
    """Recordings ``[(waveform (channels, n), sample_rate), ...]`` -> clips ``(n, 1, 16000)``: mono, 16 kHz, the
    second around the loudest part of each (:func:`speechlib.transforms.center_on_loudest`).

    Fewer than ``min_clips``, or a silent recording (its loudest second peaks below -60 dBFS), raises
    :class:`speechlib.DataError` naming it (by ``names[i]``, else its number, counted from 1).
    """
    recordings = list(recordings)
    if len(recordings) < min_clips:
        raise DataError(f"enrolment needs at least {min_clips} recordings of the word, got {len(recordings)}")
    clips = []
    for index, recording in enumerate(recordings):
        name = names[index] if names else f"recording {index + 1} of {len(recordings)}"
        try:
            waveform, sample_rate = recording
            waveform = torch.as_tensor(waveform, dtype=torch.float32)
        except (TypeError, ValueError) as error:
            raise DataError(
                f"{name}: expected (waveform (channels, samples), sample_rate), got {recording!r:.80}"
            ) from error
        if waveform.ndim == 1:
            waveform = waveform[None]  # (n,) -> (1, n)
        if waveform.ndim != 2 or waveform.shape[1] == 0:
            raise DataError(f"{name}: expected a waveform (channels, samples), got shape {tuple(waveform.shape)}")
        if not torch.isfinite(waveform).all():
            raise DataError(f"{name}: holds NaN or infinite samples, not sound")
        clip = center_on_loudest(to_mono(waveform, int(sample_rate), SAMPLE_RATE), CLIP_SAMPLES)  # (1, 16000)
        peak = float(clip.abs().max())
        if peak < 10 ** (SILENT_DBFS / 20):
            loudness = "digital silence" if peak == 0 else f"its loudest sample is {20 * np.log10(peak):.0f} dBFS"
            raise DataError(f"{name}: is silent ({loudness}): record the word again, closer to the microphone")
        clips.append(clip)
    return torch.stack(clips)  # (n, 1, 16000)


def _heads(model: EmbeddingClassifier) -> list[nn.Module]:
    return [*model.heads, *model.inner_heads]


@torch.no_grad()  # not inference_mode: fit_row uses these features in an autograd graph
def embed_clips(model: EmbeddingClassifier, clips: torch.Tensor, batch_size: int = 64) -> list[torch.Tensor]:
    """Clips ``(n, 1, 16000)`` -> what the heads read: ``[embeddings (n, 9, 96)]`` and, for a model with heads on an
    inner layer, that layer's features ``(n, steps, dim)``."""
    parts = [model.embed_all(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)]
    return [torch.cat(kind) for kind in zip(*parts) if kind[0] is not None]


@torch.no_grad()  # not inference_mode: fit_row uses these features in an autograd graph
def pooled_features(model: EmbeddingClassifier, inputs: list[torch.Tensor]) -> torch.Tensor:
    """What each head's last linear layer sees: ``(heads, n, 2 * width)`` for :func:`embed_clips`'s ``inputs``
    (heads on the embeddings first, then those on the inner layer, as in ``model``). The heads must be in eval mode."""
    pairs = [(head, inputs[0]) for head in model.heads] + [(head, inputs[-1]) for head in model.inner_heads]
    return torch.stack([head.pooled(x) for head, x in pairs])  # (heads, n, 2 * width)


def _copies(clips: torch.Tensor, copies: int, seed: int) -> torch.Tensor:
    """Each clip, then ``copies`` versions of it shifted by up to :data:`SHIFT_SECONDS` with noise at 15-40 dB SNR."""
    generator = torch.Generator().manual_seed(seed)
    many = clips.repeat_interleave(copies, dim=0)  # (n * copies, 1, 16000)
    shift = int(SHIFT_SECONDS * SAMPLE_RATE)
    offsets = torch.randint(-shift, shift + 1, (len(many),), generator=generator)
    shifted = torch.stack([torch.roll(clip, int(offset), dims=1) for clip, offset in zip(many, offsets)])
    edge = torch.arange(CLIP_SAMPLES)  # why: what roll wraps round is cut, as a late or early start would be
    keep = ((edge[None] >= offsets[:, None]) & (edge[None] < CLIP_SAMPLES + offsets[:, None])).unsqueeze(1)
    shifted = shifted * keep
    snr = 15 + 25 * torch.rand(len(many), generator=generator)  # dB
    level = shifted.pow(2).mean(dim=(1, 2)).sqrt() * 10 ** (-snr / 20)  # (n * copies,)
    noisy = shifted + level[:, None, None] * torch.randn(shifted.shape, generator=generator)
    return torch.cat([clips, noisy])


def scrambled(clips: torch.Tensor, seed: int, pieces: int = 8) -> torch.Tensor:
    """Clips ``(n, 1, 16000)`` that are the same voice, room and microphone but not the word: each clip played
    backwards, and twice cut into ``pieces`` that are put back in a random order. ``(3 n, 1, 16000)``.

    Why: the counter-examples are other words of synthetic voices; without these, a word enrolled from real
    voices would learn "a real voice" as much as the word, and take other real words.
    """
    generator = torch.Generator().manual_seed(seed + 1)
    size = CLIP_SAMPLES // pieces
    parts = clips[..., : size * pieces].reshape(len(clips), 1, pieces, size)  # (n, 1, pieces, size)
    shuffled = []
    for _ in range(2):
        order = torch.stack([torch.randperm(pieces, generator=generator) for _ in range(len(clips))])  # (n, pieces)
        mixed = torch.stack([part[:, rows] for part, rows in zip(parts, order)]).flatten(2)  # (n, 1, pieces * size)
        shuffled.append(pad_trim(mixed))
    return torch.cat([clips.flip(-1), *shuffled])


_NEGATIVES: dict = {}  # (pad_samples, inner_layer) -> (inputs, names of their words): embedded once per process


def negative_inputs(model: EmbeddingClassifier, word: str) -> tuple[list[torch.Tensor], np.ndarray]:
    """What the new word must not be, as :func:`embed_clips` gives it: :data:`NEGATIVES_PER_WORD` training clips of
    each bundled word (``word`` itself left out), :data:`UNKNOWN_NEGATIVES` of ``data/unknown_speech`` and a few
    generated non-speech clips. A fixed sample (seeded), embedded once per process. Returns the inputs and the
    word of each clip (``_unknown_speech_`` or ``_non_speech_`` for the others)."""
    key = (model.pad_samples, model.inner_layer)
    if key not in _NEGATIVES:
        rng = np.random.default_rng(NEGATIVE_SEED)
        data = data_dir()
        clips, names = [], []
        for folder, per_label, total in (
            ("bundled", NEGATIVES_PER_WORD, None),
            ("unknown_speech", None, UNKNOWN_NEGATIVES),
        ):
            try:
                dataset = SpeechCommands(data / folder, subset="training", verbose=False)
            except DataError as error:
                raise DataError(f"enrolment needs the project's {folder} clips as counter-examples: {error}") from error
            by_label: dict[str, list[int]] = {}
            for index, target in enumerate(dataset.targets):
                by_label.setdefault(dataset.labels[target], []).append(index)
            count = per_label or -(-total // len(by_label))  # per label
            for label, rows in sorted(by_label.items()):
                for row in rng.choice(rows, size=min(count, len(rows)), replace=False):
                    clips.append(pad_trim(read_clip(dataset.root / dataset.files[row])))
                    names.append(label if folder == "bundled" else "_unknown_speech_")
        non_speech, _ = non_speech_clips(NON_SPEECH_PER_KIND, seed=NEGATIVE_SEED)
        waveforms = torch.cat([torch.stack(clips), non_speech])  # (n, 1, 16000)
        names += ["_non_speech_"] * len(non_speech)
        _NEGATIVES[key] = (embed_clips(model, waveforms), np.array(names))
    inputs, names = _NEGATIVES[key]
    keep = names != word  # a bundled word being enrolled is no counter-example of itself
    return [part[torch.from_numpy(keep)] for part in inputs], names[keep]


def fit_row(
    positive: torch.Tensor,
    negative: torch.Tensor,
    classifiers: list[nn.Linear],
    method: str = "prototype",
    steps: int = 300,
    pull: float = 1e-3,
    lr: float = 0.05,
    own: torch.Tensor | None = None,
    own_weight: float = 1.0,
    decay: float = DECAY,
    known: torch.Tensor | None = None,
    known_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One new output row per head: ``(weights (heads, 2 width), biases (heads,))``.

    ``positive`` ``(heads, p, 2 width)`` and ``negative`` ``(heads, m, 2 width)``: :func:`pooled_features` of the
    clips that are the new word and of those that are not; ``classifiers``: each head's last layer, unchanged. The
    loss, per head: ``-log p(new word)`` on the positives plus ``-log (1 - p(new word))`` on the negatives, each
    averaged, with the other classes' logits as they are, plus ``decay`` times the row's squared length;
    ``"prototype"`` fits only the row's length along the prototype's direction and its bias, ``"train"`` every
    number, plus ``pull`` times the squared distance from that direction. ``own`` ``(heads, q, 2 width)``: more
    clips that are not the word (:func:`scrambled`), averaged as a third term weighing ``own_weight``. Adam,
    ``steps`` full-batch steps of ``lr``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    with torch.no_grad():
        # the prototype: from the counter-examples' mean to the clips' mean (every pooled feature is >= 0, so the
        # clips' mean alone points at speech in general)
        direction = F.normalize(positive.mean(dim=1) - negative.mean(dim=1), dim=1)  # (heads, 2 width)
        row_length = torch.stack([layer.weight.norm(dim=1).mean() for layer in classifiers])  # (heads,)
        bias = torch.stack([layer.bias.mean() for layer in classifiers])  # (heads,)
    groups, shares = [positive, negative], [1.0, 1.0]
    for group, share in ((own, own_weight), (known, known_weight)):
        if group is not None and group.shape[1]:
            groups.append(group)
            shares.append(share)
    both = torch.cat(groups, dim=1)  # (heads, p + m + q, 2 width)
    with torch.no_grad():
        old = torch.stack([layer(x).logsumexp(dim=1) for layer, x in zip(classifiers, both)])  # (heads, p + m + q)
    is_positive = torch.arange(both.shape[1]) < positive.shape[1]
    # each group averaged on its own: five clips weigh as much as hundreds of counter-examples
    weights = torch.cat([torch.full((g.shape[1],), w / g.shape[1]) for g, w in zip(groups, shares)])  # (p + m + q,)
    length = row_length.clone().requires_grad_(True)
    bias = bias.clone().requires_grad_(True)
    # (heads, 2 width): the row minus the prototype
    offset = torch.zeros_like(direction, requires_grad=method == "train")
    parameters = [length, bias] + ([offset] if method == "train" else [])
    optimizer = torch.optim.Adam(parameters, lr=lr)

    def rows() -> torch.Tensor:
        return length[:, None] * direction + offset  # (heads, 2 width)

    for _ in range(steps):
        weight = rows()
        # the new word's logit (heads, p + m); one product per head: faster than bmm on one core
        new = torch.stack([x @ row for x, row in zip(both, weight)]) + bias[:, None]
        total = torch.logaddexp(old, new)  # the old classes' logits do not change: only their log-sum-exp counts
        log_likelihood = torch.where(is_positive, new, old) - total  # log p(new) on positives, log (1 - p(new)) else
        # why decay: five clips are told apart from the rest by a row long enough to be sure of them alone
        loss = -(log_likelihood * weights).sum() + pull * offset.pow(2).sum() + decay * weight.pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return rows().detach(), bias.detach()


RAW_CHANNELS = 192  # the extra channels of a head that carry what it reads, unchanged, to its last layer
INNER_FLOOR = 0.4  # the inner layer's features are >= -0.4 (the embedding network's clipped activation)


def _identity_norm(norm: nn.BatchNorm1d, width: int) -> nn.BatchNorm1d:
    """``norm`` with ``width`` more channels that it passes through unchanged (eval mode)."""
    wider = nn.BatchNorm1d(width, eps=norm.eps)
    extra = width - norm.num_features
    with torch.no_grad():
        wider.weight.copy_(torch.cat([norm.weight, torch.ones(extra)]))
        wider.bias.copy_(torch.cat([norm.bias, torch.zeros(extra)]))
        wider.running_mean.copy_(torch.cat([norm.running_mean, torch.zeros(extra)]))
        wider.running_var.copy_(torch.cat([norm.running_var, torch.full((extra,), 1 - norm.eps)]))  # (x-0)/1
        wider.num_batches_tracked.copy_(norm.num_batches_tracked)
    return wider


def _widened_head(head: nn.Module) -> nn.Module:
    """``head`` with :data:`RAW_CHANNELS` more channels through both convolutions that carry its input as it is (the
    embedding split into its positive and negative parts, or the inner layer's features plus 0.4: never negative,
    so the ReLUs pass them) to the pooling: the new word's row can read the speech embedding itself, whose
    distances between words the heads (trained on other words) may have shrunk. The old outputs are unchanged:
    the old rows weigh the new channels 0, and the old channels never see them."""
    conv1, norm1, conv2, norm2 = [layer for layer in head.layers if isinstance(layer, (nn.Conv1d, nn.BatchNorm1d))]
    width, inputs, extra = conv1.out_channels, conv1.in_channels, RAW_CHANNELS
    dropout = next(layer.p for layer in head.layers if isinstance(layer, nn.Dropout))
    wider = type(head)(head.classifier.out_features, embedding_dim=inputs, width=width + extra, dropout=dropout)
    new1, _, _, _, new2, _, _, _ = wider.layers
    eye = torch.eye(inputs)
    with torch.no_grad():
        new1.weight.zero_()
        new1.bias.zero_()
        new1.weight[:width] = conv1.weight
        new1.bias[:width] = conv1.bias
        if 2 * inputs == extra:  # the embedding (96): +x and -x
            new1.weight[width:, :, 1] = torch.cat([eye, -eye])  # the middle tap: each window's own numbers
        else:  # the inner layer (192): x + 0.4
            new1.weight[width:, :, 1] = eye
            new1.bias[width:] = INNER_FLOOR
        new2.weight.zero_()
        new2.bias.zero_()
        new2.weight[:width, :width] = conv2.weight
        new2.bias[:width] = conv2.bias
        new2.weight[width:, width:, 1] = torch.eye(extra)
        old = head.classifier.weight  # (classes, 2 width): [largest, mean]
        wider.classifier.weight.zero_()
        wider.classifier.weight[:, :width] = old[:, :width]
        wider.classifier.weight[:, width + extra : 2 * width + extra] = old[:, width:]
        wider.classifier.bias.copy_(head.classifier.bias)
    wider.layers[1] = _identity_norm(norm1, width + extra)
    wider.layers[5] = _identity_norm(norm2, width + extra)
    return wider.to(old.device).eval()


def widened(model: EmbeddingClassifier) -> EmbeddingClassifier:
    """A copy of ``model`` whose heads also pass their input to their last layer (:func:`_widened_head`); ``model``
    itself if it already does (a model enrolled before)."""
    if is_widened(model):
        return model
    if len(model.heads) and model.heads[0].layers[0].in_channels * 2 != RAW_CHANNELS:
        raise ValueError(f"cannot widen heads on {model.heads[0].layers[0].in_channels} numbers")
    if len(model.inner_heads) and model.inner_heads[0].layers[0].in_channels != RAW_CHANNELS:
        raise ValueError(f"cannot widen heads on {model.inner_heads[0].layers[0].in_channels} numbers")
    new = copy.deepcopy(model)
    new.heads = nn.ModuleList(_widened_head(head) for head in model.heads)
    new.inner_heads = nn.ModuleList(_widened_head(head) for head in model.inner_heads)
    return new.eval()


def is_widened(model: EmbeddingClassifier) -> bool:
    """Whether ``model``'s heads pass their input to their last layer already (:func:`widened`)."""
    conv = model.heads[0].layers[0]
    if conv.out_channels <= RAW_CHANNELS:
        return False
    carried = conv.weight[-RAW_CHANNELS:].detach()
    inputs = conv.in_channels
    eye = torch.eye(inputs)
    expected = torch.zeros_like(carried)
    expected[:, :, 1] = torch.cat([eye, -eye])
    return torch.equal(carried, expected)


def with_new_row(
    model: EmbeddingClassifier, weights: torch.Tensor, biases: torch.Tensor, log_prior: float = 0.0
) -> EmbeddingClassifier:
    """A copy of ``model`` with one more class: each head's last layer gets the row ``weights[h]``, ``biases[h]``
    (after the old ones), the model's log prior ``log_prior``; in eval mode. ``model`` is not changed."""
    new = copy.deepcopy(model)
    for head, weight, bias in zip(_heads(new), weights, biases):
        old = head.classifier
        layer = nn.Linear(old.in_features, old.out_features + 1)
        with torch.no_grad():
            layer.weight.copy_(torch.cat([old.weight, weight[None]]))
            layer.bias.copy_(torch.cat([old.bias, bias[None]]))
        head.classifier = layer.to(old.weight.device)
    new.log_prior = torch.cat([model.log_prior, model.log_prior.new_full((1,), log_prior)])
    return new.eval()


def enrol(
    model: EmbeddingClassifier,
    labels: list[str],
    word: str,
    recordings,
    *,
    names: list[str] | None = None,
    **options,
) -> tuple[EmbeddingClassifier, list[str]]:
    """Teach ``model`` the new ``word`` from a few ``recordings``: ``(new model, labels + [word])``. Issue 19.

    ``recordings``: at least :data:`MIN_CLIPS` ``(waveform (channels, n), sample_rate)`` of any rate and length
    (the loudest second of each is kept; ``names`` name them in errors). ``model``: an
    :class:`speechlib.transfer.EmbeddingClassifier` (``load_model("models/transfer.pt")``) and ``labels`` its
    labels. The new model has every head's last layer one row longer and reading the speech embedding too (the
    module docstring says how it is fitted); the old rows, the embedding, the heads' convolutions and
    ``reject_below`` are the model's, so its other words only lose clips that the new word now wins. It is in eval
    mode; :func:`save_enrolled` saves it so that :func:`speechlib.load_model` rebuilds it (its heads are wider: the
    settings of the model it came from no longer rebuild it). ``model`` is unchanged.
    ``options``: those of :func:`enrol_clips` (the defaults are the measured choice).

    Errors (``ValueError``; :class:`speechlib.DataError` for the recordings): a model that is not an
    ``EmbeddingClassifier`` or whose labels do not match it, fewer than :data:`MIN_CLIPS` recordings, a silent
    recording, a word the model knows, an empty name, a name with ``/`` or starting with ``_``.
    """
    if not isinstance(model, EmbeddingClassifier):
        raise ValueError(  # noqa: TRY004 (one kind of error for every bad input to enrol: the Recorder shows it)
            f"enrolment needs a model built on the speech embedding (an EmbeddingClassifier such as "
            f"models/transfer.pt), not a {type(model).__name__}"
        )
    labels = list(labels)
    if len(labels) != len(model.log_prior):
        raise ValueError(f"{len(labels)} labels for a model of {len(model.log_prior)} classes")
    if options.get("method", METHODS[0]) not in METHODS:
        raise ValueError(f"unknown method {options['method']!r}: choose one of {', '.join(METHODS)}")
    word = check_word(word, labels)
    clips = prepare_clips(recordings, names)  # (n, 1, 16000)
    return enrol_clips(model, labels, word, clips, **options)


def enrol_clips(
    model: EmbeddingClassifier,
    labels: list[str],
    word: str,
    clips: torch.Tensor,
    *,
    method: str = "prototype",
    copies: int = COPIES,
    steps: int = 300,
    pull: float = 1e-3,
    prior: float = NEW_WORD_LOG_PRIOR,
    scramble: bool = True,
    widen: bool = True,
    decay: float = DECAY,
    known_weight: float = KNOWN_WEIGHT,
    seed: int = 0,
    negatives: list[torch.Tensor] | None = None,
) -> tuple[EmbeddingClassifier, list[str]]:
    """:func:`enrol` for clips already prepared (``(n, 1, 16000)``, :func:`prepare_clips`) and a checked ``word``,
    with no minimum number of clips (``tools/measure_enrolment.py`` measures 1-shot enrolment with it).

    ``method``, ``steps``, ``pull``: how the row is fitted (:func:`fit_row`); ``copies``: shifted, noisy copies of each
    clip fitted on besides it; ``prior``: the new word's log prior in the model (negative: it must beat the old
    classes by that many nats); ``scramble``: the clips played backwards and shuffled are counter-examples too
    (:func:`scrambled`); ``negatives``: the other counter-examples as :func:`embed_clips` gives them (default:
    :func:`negative_inputs`)."""
    was_training = model.training
    model.eval()  # pooled features as the heads compute them when they classify
    try:
        reader = widened(model) if widen else model
        positive = pooled_features(reader, embed_clips(model, _copies(clips, copies, seed)))
        if negatives is None:
            negatives, names = negative_inputs(model, word)
            is_known = torch.from_numpy(np.isin(names, labels))  # clips of the model's own words
        else:
            is_known = torch.zeros(len(negatives[0]), dtype=torch.bool)
        negative = pooled_features(reader, negatives)
        own = pooled_features(reader, embed_clips(model, scrambled(clips, seed))) if scramble else None
    finally:
        model.train(was_training)
    model = reader
    torch.manual_seed(seed)
    classifiers = [head.classifier for head in _heads(model)]
    weights, biases = fit_row(
        positive, negative[:, ~is_known], classifiers, method, steps, pull, own=own, decay=decay,
        known=negative[:, is_known], known_weight=known_weight,
    )  # fmt: skip
    return with_new_row(model, weights, biases, prior), list(labels) + [word]


def model_settings(model: EmbeddingClassifier) -> dict:
    """The settings :func:`speechlib.models.build_model` rebuilds ``model``'s shape from."""
    first = model.heads[0]
    dropout = next(layer.p for layer in first.layers if isinstance(layer, nn.Dropout))
    return {
        "num_heads": len(model.heads),
        "width": first.classifier.in_features // 2,
        "dropout": dropout,
        "pad_samples": model.pad_samples,
        "inner_layer": model.inner_layer,
        "num_inner_heads": len(model.inner_heads),
    }


def save_enrolled(model: EmbeddingClassifier, labels: list[str], path: str | os.PathLike, **extra) -> Path:
    """Save an enrolled model atomically (:func:`speechlib.training.save_model`) with the settings that rebuild it,
    so ``speechlib.load_model(path)`` (and ``speechlib predict``, ``listen``, ``evaluate``) loads it. ``extra`` is
    saved beside them (e.g. ``enrolled={"word": ..., "clips": ...}``)."""
    from .training import save_model

    settings = {**extra.pop("settings", {}), **model_settings(model)}
    return save_model(model, path, labels, "transfer", settings=settings, **extra)
