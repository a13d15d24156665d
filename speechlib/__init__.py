"""speechlib: the helper library of the speech-commands teaching series.

Every public function's docstring names the notebook that teaches it. The table below says which
module each name lives in. A name's module is imported the first time the name is used, so
``import speechlib.cache`` (or ``speechlib train``) does not pay for matplotlib and widgets it
never draws; ``from speechlib import plot_waveform`` and ``speechlib.data.REPO_DIR`` work as usual.
"""

import importlib
import importlib.util

_MODULE_OF = {
    # data.py: reading Speech Commands and your own audio
    "CLIP_SAMPLES": "data",
    "SAMPLE_RATE": "data",
    "DataError": "errors",
    "SpeechCommands": "data",
    "WORDS": "data",
    "find_root": "data",
    "load_audio": "data",
    "read_clip": "data",
    "sample_clips": "data",
    # cache.py: the decoded-clip cache
    "ClipCache": "cache",
    "CachedClips": "cache",
    "load_cache": "cache",
    # embedding.py: a speech embedding pretrained on real speech (notebook 09)
    "SpeechEmbedding": "embedding",
    "embedding_cache": "embedding",
    "load_speech_embedding": "embedding",
    # transfer.py: the shipped model that hears people, and "I heard nothing" (notebooks 09, 10)
    "DEFAULT_MODEL": "transfer",
    "EmbeddingClassifier": "transfer",
    "verdict": "transfer",
    # enrol.py: teach a model your own word; speechlib.enrol stays the module (its function: speechlib.enrol.enrol)
    "save_enrolled": "enrol",
    # listen.py: listening continuously (notebook 11)
    "Listener": "listen",
    "listen_file": "listen",
    # device.py
    "pick_device": "device",
    # models.py
    "CNN": "models",
    "SimpleNet": "models",
    "build_model": "models",
    "count_parameters": "models",
    # plots.py
    "plot_confusion_matrix": "plots",
    "plot_history": "plots",
    "plot_label_counts": "plots",
    "plot_length_histogram": "plots",
    "plot_loss_curve": "plots",
    "plot_spectrogram": "plots",
    "plot_waveform": "plots",
    # training.py
    "confusion_matrix": "training",
    "evaluate": "training",
    "load_checkpoint": "training",
    "load_model": "training",
    "predict": "training",
    "save_model": "training",
    "TrainConfig": "training",
    "fit": "training",
    "train_one_epoch": "training",
    # recorder.py
    "Recorder": "recorder",
    "classify_file": "recorder",
    # transforms.py
    "center_on_loudest": "transforms",
    "make_collate": "transforms",
    "pad_trim": "transforms",
    # widgets.py
    "clip_browser": "widgets",
}

__all__ = list(_MODULE_OF)  # `from speechlib import *`; dir() sorts it
__version__ = "0.1.0"


def __getattr__(name: str):
    """Import the module that defines ``name``, or the submodule ``name``, on first use (PEP 562)."""
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # speechlib.data, speechlib.models, ...
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'speechlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
