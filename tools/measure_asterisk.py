"""How often a model answers with a word to real human speech that holds none of its words (maintainer script).

    PYTHONPATH=$PWD python tools/measure_asterisk.py                                # models/transfer.pt
    PYTHONPATH=$PWD python tools/measure_asterisk.py MODEL [MODEL ...] --json results.json --examples 10

The telephone prompts of Debian's ``asterisk-core-sounds-en-wav`` (one human speaker, 8 kHz, CC-BY-SA-3.0;
``apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-en`` for the sounds and their transcripts)
are real speech. The script keeps the prompts whose transcript holds none of the 35 words (whole words, any
case), no digit and is not a description of a sound in brackets (tones); each is classified as
``speechlib predict`` does (:func:`speechlib.recorder.classify_file`: the loudest second, at 16 kHz), and
:func:`speechlib.verdict` with the model's own threshold says what the model answers: a word (wrong: none
was said), "I heard nothing" or "not one of the words". Then ``digits/0.wav`` .. ``digits/9.wav``, the same
speaker saying zero .. nine: right when the model's best guess is that word if it knows it, and when it
rejects the clip if it does not.

A measure only: never train on these prompts, and never choose training material by listening to the
prompts a model fails on; both would make the figure flatter the model.
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import Counter
from pathlib import Path

from speechlib.commands import write_json
from speechlib.data import WORDS, DataError
from speechlib.recorder import classify_file
from speechlib.training import load_model
from speechlib.transfer import DEFAULT_MODEL, HEARD_NOTHING, NOT_A_WORD, model_threshold, verdict

SOUNDS = Path("/usr/share/asterisk/sounds/en")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
INSTALL = "apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-en"
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")  # digits/0 .. 9


# ---------------------------------------------------------------------------------------------
# Which prompts: the transcripts
# ---------------------------------------------------------------------------------------------


def read_transcripts(path: Path) -> dict[str, str]:
    """``{name: text}`` from lines ``name: text`` (``digits/0: zero``; ``;`` starts a comment), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    transcripts = {}
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            name, colon, text = line.strip().partition(":")
            if colon and not name.startswith(";"):
                transcripts[name.strip()] = text.strip()
    return transcripts


def spoken_words(text: str) -> list[str] | None:
    """The words of a transcript, lower case; None when it is not speech: a description such as
    ``[ascending tones]`` or ``(1 second of silence)``, or a number in digits (``Press 5``: which word is unsure).
    A bracketed note beside speech (``at [@]``) is not spoken: it is dropped."""
    said = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", text)  # what is between brackets describes, it is not said
    if not said.strip() or re.search(r"\d", said):
        return None
    return re.findall(r"[a-z]+", said.lower())  # "party's" -> party, s; "Call-Forward" -> call, forward


def select_prompts(sounds: Path, transcripts: dict[str, str], words=WORDS) -> list[tuple[Path, str]]:
    """``(file, transcript)`` of every WAV under ``sounds`` whose transcript is speech holding none of ``words``."""
    avoided = {word.lower() for word in words}
    selected = []
    for path in sorted(sounds.rglob("*.wav")):
        text = transcripts.get(path.relative_to(sounds).with_suffix("").as_posix())  # "digits/10"
        said = None if text is None else spoken_words(text)  # a file without a transcript: unknown content
        if said is not None and not avoided.intersection(said):
            selected.append((path, text))
    return selected


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def answer(path: Path, model, labels: list[str]) -> dict:
    """The model's best guess for one file, its probability and :func:`speechlib.verdict` (None: a word)."""
    guesses = classify_file(path, model, labels)
    return {"word": guesses[0][0], "probability": guesses[0][1], "verdict": verdict(guesses, model_threshold(model))}


def measure_prompts(model, labels: list[str], prompts: list[tuple[Path, str]], sounds: Path, examples: int) -> dict:
    """Shares of ``prompts`` answered with a word, with "I heard nothing" and with "not one of the words",
    the words answered, and the ``examples`` answers with a word given with the highest probability."""
    answers = []
    for path, text in prompts:
        answers.append({"file": path.relative_to(sounds).as_posix(), "transcript": text} | answer(path, model, labels))
    verdicts, total = Counter(found["verdict"] for found in answers), max(len(answers), 1)
    worded = sorted((found for found in answers if found["verdict"] is None), key=lambda found: -found["probability"])
    shown = ("file", "transcript", "word", "probability")
    return {
        "prompts": len(answers),
        "answered_with_a_word": verdicts[None] / total,
        "heard_nothing": verdicts[HEARD_NOTHING] / total,
        "not_a_word": verdicts[NOT_A_WORD] / total,
        "words_answered": dict(Counter(found["word"] for found in worded).most_common()),
        "examples": [{key: found[key] for key in shown} for found in worded[:examples]],
    }


def measure_digits(model, labels: list[str], sounds: Path) -> dict:
    """``digits/0.wav`` .. ``digits/9.wav``: right when the best guess is the number's word (a word the model
    knows), or when the model rejects it (a word it does not know)."""
    clips = []
    for digit, word in enumerate(DIGIT_WORDS):
        found = answer(sounds / "digits" / f"{digit}.wav", model, labels)
        known = word in labels
        right = found["word"] == word if known else found["verdict"] is not None
        clips.append({"file": f"digits/{digit}.wav", "said": word, "known": known, "right": right} | found)
    known = [clip for clip in clips if clip["known"]]
    return {
        "right": sum(clip["right"] for clip in clips),
        "known": len(known),
        "known_right": sum(clip["right"] for clip in known),
        "unknown_rejected": sum(clip["right"] for clip in clips if not clip["known"]),
        "clips": clips,
    }


def measure(model, labels: list[str], prompts: list[tuple[Path, str]], sounds: Path, examples: int) -> dict:
    """Everything measured for one model: the prompts, then the digits."""
    return {
        "reject_below": model_threshold(model),
        **measure_prompts(model, labels, prompts, sounds, examples),
        "digits": measure_digits(model, labels, sounds),
    }


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def print_summary(name: str, result: dict) -> None:
    """A readable account of :func:`measure`'s result for the model ``name``."""
    digits = result["digits"]
    print(f"{name} (threshold {result['reject_below']:.3f}), {result['prompts']} prompts without any of the words:")
    print(f"  answered with a word   {result['answered_with_a_word']:.4f}")
    print(f"  {HEARD_NOTHING:<22} {result['heard_nothing']:.4f}")
    print(f"  {NOT_A_WORD:<22} {result['not_a_word']:.4f}")
    if result["words_answered"]:
        print("  words answered: " + ", ".join(f"{word} {count}" for word, count in result["words_answered"].items()))
    for example in result["examples"]:
        print(f"    {example['file']}: {example['word']} {example['probability']:.3f} ({example['transcript']!r})")
    print(
        f"  digits 0-9: {digits['right']} of 10 right ({digits['known_right']} of the {digits['known']} it knows "
        f"named, {digits['unknown_rejected']} of the {10 - digits['known']} it does not know rejected)"
    )
    for clip in digits["clips"]:
        meaning = f" ({clip['verdict']})" if clip["verdict"] else ""
        score = "right" if clip["right"] else "wrong"
        print(f"    {clip['file']} ({clip['said']}): {clip['word']} {clip['probability']:.3f}{meaning}, {score}")


def existing(path: Path, what: str) -> Path:
    """``path``, or a one-line exit naming it and the Debian packages that install it."""
    if not path.exists():
        raise SystemExit(f"measure_asterisk.py: {path}: no {what} ({INSTALL})")
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, nargs="*", default=[DEFAULT_MODEL], help="default: models/transfer.pt")
    parser.add_argument("--sounds", type=Path, default=SOUNDS, help=f"the prompts' folder (default: {SOUNDS})")
    parser.add_argument("--transcripts", type=Path, default=TRANSCRIPTS, help=f"default: {TRANSCRIPTS}")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--examples", type=int, default=10, help="prompts answered with a word to show (default: 10)")
    args = parser.parse_args(argv)

    sounds = existing(args.sounds, "Asterisk sounds folder")
    prompts = select_prompts(sounds, read_transcripts(existing(args.transcripts, "Asterisk transcripts")))
    print(f"{len(prompts)} prompts of {sounds} hold none of the {len(WORDS)} words")
    results = {
        "sounds": str(sounds),
        "transcripts": str(args.transcripts),
        "selected_prompts": len(prompts),
        "models": {},
    }
    for model_path in args.models:
        try:
            model, labels = load_model(model_path)
            results["models"][str(model_path)] = measure(model, labels, prompts, sounds, args.examples)
        except (DataError, FileNotFoundError) as error:
            raise SystemExit(f"measure_asterisk.py: {error}") from error
        print_summary(str(model_path), results["models"][str(model_path)])
    if args.json is not None:
        write_json(results, args.json)
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
