"""speechlib: the helper library of the speech-commands teaching series.

Every public function's docstring names the notebook that teaches it.
"""

from .cache import ClipCache, ClipLoader, load_cache
from .data import (CLIP_SAMPLES, SAMPLE_RATE, DataError, SpeechCommands, find_root, load_audio,
                   read_clip)
from .device import pick_device
from .models import CNN, SimpleNet, build_model, count_parameters
from .plots import (plot_confusion_matrix, plot_label_counts, plot_length_histogram, plot_loss_curve,
                    plot_spectrogram, plot_waveform)
from .training import (confusion_matrix, evaluate, load_checkpoint, load_model, predict, save_model,
                       train, train_one_epoch)
from .recorder import Recorder, classify_file
from .transforms import center_on_loudest, make_collate, pad_trim
from .widgets import clip_browser

__version__ = "0.1.0"
