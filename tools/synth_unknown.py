"""``data/unknown_speech``: synthetic speech that is none of the 35 words, for the ``_unknown_`` class.

    apt-get install -y espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts wamerican
    python tools/synth_unknown.py --out data/unknown_speech      # --seed 3 --speakers 56 are the defaults

A keyword spotter must say "not one of the words" when people say something else. This tree teaches the
transfer models (``tools/train_transfer.py``) what "something else" sounds like. New synthetic speakers
(the speaker recipes of ``tools/synth.py``, another seed: none of them is a speaker of ``data/bundled``) each
say about 40 things, of four kinds, one folder each:

- ``word/``: one English word from ``/usr/share/dict/words`` (Debian's ``wamerican``) that is none of the 35
  words, nor a plural, possessive or homophone of one (:data:`EXCLUDED`);
- ``near_miss/``: a word that sounds close to one of the 35 (:data:`NEAR_MISSES`: bed -> bad, bid, bet);
- ``phrase/``: three to seven words, short function words among them, like a sentence;
- ``foreign/``: dictionary words read by one of espeak-ng's voices for another language (its spelling rules,
  its sounds: speech in no language the model knows), espeak-ng speakers only.

A word is placed in a one-second clip as ``tools/synth.py`` places keywords; of a phrase the loudest second is
kept, which is what ``speechlib predict`` keeps of a long recording. ``transcripts.csv`` says what each clip
says; the splits follow the real set's rule by speaker (``validation_list.txt``, ``testing_list.txt``), so the
testing speakers measure how well unknown speech from new voices is rejected. Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import synth
from speechlib.data import CLIP_SAMPLES, WORDS
from speechlib.transforms import center_on_loudest

KINDS = ("word", "near_miss", "phrase", "foreign")
DICTIONARY = Path("/usr/share/dict/words")
# Sound-alikes of the 35 words, never said as unknown speech: a clip of "write" is not wrong when heard as "right"
HOMOPHONES = {
    "ate", "won", "write", "rite", "wright", "for", "fore", "too", "to", "know", "foreword", "sics", "sicks", "tu",
    "nein", "sheilah", "marvyn", "zeroes", "zeros", "threes", "trees", "fours", "fives", "sixes", "nines", "ones",
    "twos", "eights", "sevens", "yeses", "noes", "nos", "ups", "downs", "offs", "ons", "stops", "lefts", "rights",
    "goes", "dogs", "cats", "beds", "birds", "houses", "learns", "learned", "learnt", "follows", "followed",
    "backwards", "forwards", "visuals", "wows", "wowed", "happier", "rote", "wrote", "bird's", "tree's",
}  # fmt: skip
EXCLUDED = set(WORDS) | HOMOPHONES
NEAR_MISSES = {  # rhymes, partial words and neighbours of each of the 35 words
    "backward": ["back", "ward", "awkward", "backyard", "backboard"],
    "bed": ["bad", "bid", "bet", "bread", "bend", "fed", "red"],
    "bird": ["bud", "board", "word", "heard", "third", "burnt"],
    "cat": ["cut", "cap", "hat", "kit", "cot", "cast"],
    "dog": ["dug", "dot", "dock", "log", "fog", "dodge"],
    "down": ["town", "gown", "dune", "done", "drown", "dawn"],
    "eight": ["bait", "gate", "hate", "late", "eighty", "weight"],
    "five": ["fine", "hive", "dive", "fife", "file", "fifty"],
    "follow": ["hollow", "fallow", "following", "swallow", "fellow", "wallow"],
    "forward": ["coward", "toward", "foreman", "format", "fortune"],
    "four": ["floor", "door", "pour", "fort", "forty", "foam"],
    "go": ["goal", "goat", "gold", "grow", "show", "ghost"],
    "happy": ["hippy", "nappy", "snappy", "happen", "hopping"],
    "house": ["mouse", "horse", "how", "blouse", "housing", "hose"],
    "learn": ["lean", "turn", "burn", "earn", "yearn", "lurk"],
    "left": ["lift", "loft", "theft", "lefty", "deft", "leaf"],
    "marvin": ["marvel", "martin", "carving", "marble", "marking"],
    "nine": ["mine", "line", "nice", "dine", "ninety", "nights"],
    "no": ["now", "snow", "note", "nose", "gnaw", "noon"],
    "off": ["offer", "of", "cough", "often", "awful", "scoff"],
    "on": ["own", "an", "in", "upon", "onion", "honest"],
    "one": ["want", "wand", "once", "wonder", "ton", "gun"],
    "right": ["ride", "light", "bright", "fright", "rice", "ripe"],
    "seven": ["seventy", "heaven", "eleven", "sever", "savant"],
    "sheila": ["sheet", "shield", "shale", "feeler", "sheena", "leila"],
    "six": ["sticks", "sex", "sick", "sits", "fix", "sixty"],
    "stop": ["stock", "step", "shop", "top", "stomp", "strap"],
    "three": ["free", "thee", "tee", "throw", "threat", "thirty"],
    "tree": ["tea", "true", "treat", "street", "trim", "tray"],
    "two": ["tooth", "tube", "tune", "twelve", "twin", "tattoo"],
    "up": ["upper", "cup", "pup", "hop", "app", "pub"],
    "visual": ["visa", "vision", "usual", "virtual", "visit", "casual"],
    "wow": ["vow", "wall", "wham", "bow", "wad", "west"],
    "yes": ["yet", "yeah", "yellow", "mess", "guess", "chess"],
    "zero": ["zebra", "hero", "xerox", "arrow", "sierra", "zeal"],
}
FUNCTION_WORDS = [
    "the", "a", "is", "and", "of", "in", "it", "that", "please", "your", "you", "this", "with", "at", "we",
    "have", "be", "are", "was", "will", "can", "not", "thank", "call", "enter", "number", "press", "and then",
]  # fmt: skip
FOREIGN_VOICES = ["de", "fr-fr", "es", "it", "nl", "pl", "pt", "sv", "fi", "hu", "cs", "tr", "id", "ro", "hr", "da"]
# how many clips of each kind a speaker says (espeak-ng speakers also say foreign ones)
PLAN = {"espeak-ng": {"word": 14, "near_miss": 8, "phrase": 10, "foreign": 8},
        "other": {"word": 16, "near_miss": 10, "phrase": 14, "foreign": 0}}  # fmt: skip


def dictionary_words(path: Path = DICTIONARY) -> list[str]:
    """Lower-case words of 2 to 12 letters from ``path`` that are not in :data:`EXCLUDED`, sorted."""
    if not path.is_file():
        raise SystemExit(f"{path}: word list not found (apt-get install wamerican)")
    words = {line.strip() for line in path.read_text(errors="replace").splitlines()}
    return sorted(w for w in words if re.fullmatch(r"[a-z]{2,12}", w) and w not in EXCLUDED)


def near_misses() -> list[str]:
    """Every near miss once, sorted; refuses (by name) one that is one of the 35 words or their homophones."""
    misses = sorted({miss for misses in NEAR_MISSES.values() for miss in misses})
    clashes = [miss for miss in misses if miss in EXCLUDED]
    if clashes:
        raise ValueError(f"near misses that are keywords or their homophones: {', '.join(clashes)}")
    return misses


def speaker_plan(speaker: dict, vocabulary: list[str], seed: int) -> list[dict]:
    """What one speaker says: ``[{"kind", "text", "voice"}, ...]`` (voice: espeak-ng's, for foreign clips)."""
    rng = np.random.default_rng([seed, int(speaker["speaker_id"], 16)])
    counts = PLAN["espeak-ng" if speaker["engine"] == "espeak-ng" else "other"]
    misses = near_misses()
    plan = []
    for kind in KINDS:
        for _ in range(counts[kind]):
            voice = ""
            if kind == "word":
                text = str(rng.choice(vocabulary))
            elif kind == "near_miss":
                text = str(rng.choice(misses))
            elif kind == "phrase":
                words = [str(rng.choice(FUNCTION_WORDS if rng.random() < 0.4 else vocabulary))
                         for _ in range(rng.integers(3, 8))]  # fmt: skip
                text = " ".join(words)
            else:
                text = " ".join(str(rng.choice(vocabulary)) for _ in range(rng.integers(1, 4)))
                voice = str(rng.choice(FOREIGN_VOICES))
            plan.append({"kind": kind, "text": text, "voice": voice})
    return plan


def render_speaker(speaker: dict, plan: list[dict], out_dir: Path, seed: int) -> list[dict]:
    """Synthesise, process and write every clip of one speaker; one row per clip (its transcript)."""
    with synth.one_torch_thread(), tempfile.TemporaryDirectory(prefix="speechlib-unknown-") as workdir:
        rows = []
        for n, item in enumerate(plan):
            recipe = {**speaker, "voice": item["voice"]} if item["voice"] else speaker  # a foreign voice
            rng = synth.clip_rng(seed, speaker["speaker_id"], item["kind"], n)
            request = [(item["text"], float(rng.uniform(0.92, 1.08)))]
            folder = Path(workdir) / str(n)
            folder.mkdir()
            ((samples, rate),) = synth.ENGINES[speaker["engine"]](recipe, request, folder)
            waveform = synth.trim_silence(synth.to_16k(samples, rate))
            waveform = synth.trim_silence(synth.apply_effects(waveform, speaker, rng))
            waveform = waveform * 10 ** (rng.uniform(-2, 2) / 20)
            if item["kind"] in ("word", "near_miss"):  # placed like a keyword
                waveform = synth.fit_word(waveform)
                clip = synth.place_word(waveform, synth.clip_length(waveform.shape[1], rng), rng)
            else:  # the second that `speechlib predict` would hear
                clip = center_on_loudest(waveform, CLIP_SAMPLES)
            clip = synth.mix_noise(clip, speaker["noise"], speaker["noise_dbfs"] + rng.uniform(-2, 2), rng)
            relative = f"{item['kind']}/{speaker['speaker_id']}_nohash_{n}.flac"
            synth.write_flac(out_dir / relative, synth.to_pcm16(clip))
            engine_voice = recipe["voice"] + (f"+{recipe['variant']}" if recipe.get("variant") else "")
            rows.append({"file": relative, "kind": item["kind"], "text": item["text"], "voice": engine_voice})
    return rows


def generate(out: Path, seed: int = 3, num_speakers: int = 56, workers: int = 2, progress: bool = True) -> dict:
    """Build the tree in ``out.partial``, then rename it into place (an interrupted run leaves no half tree)."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for kind in KINDS:
        (partial / kind).mkdir(parents=True)
    vocabulary = dictionary_words()
    speakers = synth.make_speakers(num_speakers, seed)
    taken = set()
    for tree in ("bundled", "extra_voices"):  # the keyword speakers: never the unknown speech's
        with open(synth.REPO_DATA / tree / "speakers.csv", newline="") as f:
            taken |= {row["speaker_id"] for row in csv.DictReader(f)}
    clash = [s["speaker_id"] for s in speakers if s["speaker_id"] in taken]
    if clash:
        raise SystemExit(
            f"speakers already in data/bundled or data/extra_voices: {', '.join(clash)}: use another --seed"
        )
    started, rows = time.time(), []
    jobs = [(s, speaker_plan(s, vocabulary, seed), partial, seed) for s in speakers]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, speaker_rows in enumerate(pool.map(render_speaker, *zip(*jobs)), 1):
            rows += speaker_rows
            if progress and (done % 8 == 0 or done == len(jobs)):
                print(f"{done}/{len(jobs)} speakers, {len(rows)} clips, {time.time() - started:.0f} s", flush=True)
    rows.sort(key=lambda row: row["file"])
    with open(partial / "transcripts.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "kind", "text", "voice"])
        writer.writeheader()
        writer.writerows(rows)
    synth.finish_tree(partial, out, speakers, [row["file"] for row in rows])
    return {"clips": len(rows), "speakers": len(speakers), "seconds": time.time() - started}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python tools/synth_unknown.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=synth.REPO_DATA / "unknown_speech", help="output folder")
    parser.add_argument("--seed", type=int, default=3, help="random seed (default 3; the bundled set's is 0)")
    parser.add_argument("--speakers", type=int, default=56, help="number of synthetic speakers (default 56)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args(argv)
    missing = [p for p in ("espeak-ng", "flite", "festival") if shutil.which(p) is None]
    if missing:
        parser.error(f"missing TTS programs: {', '.join(missing)} (see the apt-get line in this script's docstring)")
    stats = generate(args.out, seed=args.seed, num_speakers=args.speakers, workers=args.workers)
    print(f"{stats['clips']} clips from {stats['speakers']} speakers in {args.out} in {stats['seconds']:.0f} s")


if __name__ == "__main__":
    main()
