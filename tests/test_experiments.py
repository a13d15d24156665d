"""tools/experiments.py: holding out whole engines selects exactly their clips; bad speakers.csv is named."""

import numpy as np
import pytest
import soundfile as sf

from experiments import rows_loader, select_rows, speaker_engines
from speechlib.cache import load_cache
from speechlib.data import DataError

# speaker -> (engine, split list it is in; None: training)
SPEAKERS = {
    "aaaa0001": ("espeak-ng", None),
    "aaaa0002": ("flite", None),
    "bbbb0001": ("espeak-ng", "testing"),
    "cccc0001": ("flite", "testing"),
    "dddd0001": ("festival", "validation"),
}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "sc"
    lists = {"validation": [], "testing": []}
    for word in ("no", "yes"):
        (root / word).mkdir(parents=True)
        for speaker, (_, split) in SPEAKERS.items():
            sf.write(root / word / f"{speaker}_nohash_0.wav", np.zeros(16000, np.int16), 16000, subtype="PCM_16")
            if split:
                lists[split].append(f"{word}/{speaker}_nohash_0.wav")
    for split, files in lists.items():
        (root / f"{split}_list.txt").write_text("".join(f"{f}\n" for f in files))
    (root / "speakers.csv").write_text(
        "speaker_id,engine,voice\n" + "".join(f"{speaker},{engine},v\n" for speaker, (engine, _) in SPEAKERS.items())
    )
    return root


def test_held_out_engine_rows(tree):
    engines = speaker_engines(tree)
    assert engines["cccc0001"] == "flite"
    cache = load_cache(tree, workers=1, progress=False, verbose=False)
    speakers = np.array(cache.speakers)
    train = select_rows(cache, engines, "training", drop={"flite"})
    assert set(speakers[train]) == {"aaaa0001"}  # espeak-ng training speaker only
    unseen = select_rows(cache, engines, None, keep={"flite"})
    assert set(speakers[unseen]) == {"aaaa0002", "cccc0001"} and len(unseen) == 4  # every split
    seen_test = select_rows(cache, engines, "testing", drop={"flite"})
    assert set(speakers[seen_test]) == {"bbbb0001"}
    loader = rows_loader(cache, unseen, batch_size=3)
    assert sum(len(targets) for _, targets in loader) == 4


def test_speakers_csv_missing_or_wrong_is_named(tmp_path):
    with pytest.raises(DataError, match="speakers.csv"):
        speaker_engines(tmp_path)
    (tmp_path / "speakers.csv").write_text("id,voice\nx,y\n")
    with pytest.raises(DataError, match="speaker_id and engine"):
        speaker_engines(tmp_path)
