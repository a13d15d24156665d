"""The ``speechlib`` command line (also ``python -m speechlib``).

Each subcommand lives beside the code it drives; this file only wires them together.
"""

from __future__ import annotations

import argparse
import sys

from .commands import register as register_training_commands
from .commands import report_errors


def _cmd_download(args) -> int:
    from .data import DataError
    from .download import DownloadError, download_speech_commands

    try:
        path = download_speech_commands(version=args.version, root=args.root)
    except (DownloadError, DataError) as error:  # the message already says what and where
        print(f"speechlib download: {error}", file=sys.stderr)
        return 1
    print(f"Speech Commands {args.version} is ready at {path}")
    return 0


def _cmd_run(args) -> int:
    import os
    from pathlib import Path

    from .paths import HOME_VARIABLE, models_dir, project_home
    from .series import CNN_FILE, SIMPLENET_FILE, SIMPLENET_NOTEBOOK, find_notebooks, run_series, saved_model_accuracy

    env = dict(os.environ)
    env[HOME_VARIABLE] = str(project_home())  # the kernels find the same project, whatever their installation
    if args.data:
        env["SPEECHLIB_DATA"] = str(Path(args.data).resolve())  # the kernels start in notebooks/
    if args.epochs is not None:
        env["SPEECHLIB_EPOCHS"] = str(args.epochs)
    notebooks = find_notebooks()
    if args.notebooks:  # "04" or "04_training.ipynb": the numbered notebooks asked for, in series order
        wanted = {name[:2] for name in args.notebooks}
        notebooks = [path for path in notebooks if path.name[:2] in wanted]
        missing = wanted - {path.name[:2] for path in notebooks}
        if missing:
            print(f"speechlib run: no notebook numbered {', '.join(sorted(missing))} in notebooks/", file=sys.stderr)
            return 2
    runs = run_series(notebooks, env=env, write_outputs=args.write_outputs, keep_going=args.keep_going)
    if not runs:
        print("speechlib run: no notebooks found", file=sys.stderr)
        return 1
    failed = [run.path.name for run in runs if not run.ok]
    print(f"{len(runs) - len(failed)} of {len(runs)} notebooks ran, {sum(run.seconds for run in runs):.1f} s in all")
    trains_simplenet = any(path.name.startswith(SIMPLENET_NOTEBOOK) for path in notebooks)
    for name, path, expected in (
        ("SimpleNet", models_dir() / SIMPLENET_FILE, trains_simplenet),  # a fresh clone has none before 04 ran
        ("CNN", models_dir() / CNN_FILE, True),  # shipped
    ):
        if path.is_file():
            accuracy = saved_model_accuracy(path, env.get("SPEECHLIB_DATA"))
            print(f"{name} test accuracy: {accuracy:.1%} ({path.parent.name}/{path.name})")
        elif expected:
            print(f"no {name} to evaluate: {path} is missing", file=sys.stderr)
            failed.append(path.name)
        else:
            print(f"no {name} to evaluate yet: notebook {SIMPLENET_NOTEBOOK} trains {path}")
    if failed:
        print(f"speechlib run: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _cmd_enrol(args) -> int:
    import time

    from .commands import existing_file
    from .data import DataError, read_audio
    from .enrol import enrol, save_enrolled
    from .training import load_checkpoint, load_model
    from .transfer import default_model_path

    model_path = existing_file(args.model or default_model_path(), "model file")
    recordings = [read_audio(existing_file(clip, "audio file")) for clip in args.clips]  # (channels, n), rate
    model, labels = load_model(model_path)
    started = time.perf_counter()
    try:
        new_model, new_labels = enrol(model, labels, args.word, recordings, names=list(args.clips))
    except ValueError as error:  # a DataError (a silent clip) is a ValueError too: the message names the clip
        print(f"speechlib enrol: {error}", file=sys.stderr)
        return 1 if isinstance(error, DataError) else 2
    seconds = time.perf_counter() - started
    base_settings = load_checkpoint(model_path).get("settings") or {}
    enrolled = {"word": new_labels[-1], "clips": [str(clip) for clip in args.clips], "base_model": str(model_path)}
    save_enrolled(new_model, new_labels, args.out, settings=base_settings, enrolled=enrolled)
    print(f"enrolled {new_labels[-1]!r} from {len(recordings)} clips: {', '.join(args.clips)}")
    print(f"{model_path} ({len(labels)} classes) -> {args.out} ({len(new_labels)} classes) in {seconds:.1f} s")
    return 0


def _cmd_listen(args) -> int:
    from pathlib import Path

    from .commands import existing_file, write_json
    from .listen import listen_file
    from .training import load_model
    from .transfer import default_model_path

    model_path = existing_file(args.model or default_model_path(), "model file")
    path = existing_file(args.file, "audio file")
    model, labels = load_model(model_path)
    settings = {"threshold": args.threshold, "average_seconds": args.average, "suppress_seconds": args.suppress}
    try:
        detections, seconds = listen_file(path, model, labels, progress=not args.quiet, **settings)
    except (TypeError, ValueError) as error:  # a model that cannot listen, settings out of range
        print(f"speechlib listen: {error}", file=sys.stderr)
        return 2
    for detection in detections:
        print(f"{detection.time:7.2f} s  {detection.word}  {detection.probability:.2f}")
    print(f"{len(detections)} words heard in {seconds:.1f} s of {path.name}", file=sys.stderr)
    if args.json:
        content = {
            "detections": [detection.as_dict() for detection in detections],
            "file": str(path),
            "model": str(model_path),
            "seconds": round(seconds, 3),
            "settings": settings,
        }
        write_json(content, Path(args.json))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="speechlib",
        description="Speech Commands from raw audio to a trained recognizer. "
        "Run `speechlib COMMAND --help` for each command.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    download = commands.add_parser(
        "download",
        help="download and extract the real Speech Commands set (resumable, checksummed)",
        description="Stream the official archive with a progress bar, resume a partial download, "
        "verify its SHA-256, then extract it safely. Running it again does nothing once the set is there.",
    )
    download.add_argument(
        "--version", choices=["v0.02", "v0.01"], default="v0.02", help="dataset version (default: v0.02, 35 words)"
    )
    download.add_argument(
        "--root",
        default=None,
        help="folder to download into (default: the repository's data/ folder); "
        "the set lands in ROOT/SpeechCommands/speech_commands_VERSION",
    )
    download.set_defaults(func=_cmd_download)

    run = commands.add_parser(
        "run",
        help="run the notebook series headless, in order, and report the models' test accuracy",
        description="Execute notebooks/NN_*.ipynb one after the other, each in a fresh kernel (the stored "
        "notebooks are not changed), print each one's status and time, then evaluate models/simplenet.pt "
        "(trained by notebook 04) and models/cnn.pt (shipped) on the test split. Exits with 1 if any notebook fails.",
    )
    run.add_argument(
        "notebooks",
        nargs="*",
        metavar="NN",
        help="run only these notebooks, by number (e.g. 01 04); default: all of them",
    )
    run.add_argument(
        "--data", default=None, help="dataset folder (default: the real set if downloaded, else data/bundled)"
    )
    run.add_argument("--epochs", type=int, default=None, help="epochs for the notebooks that train")
    run.add_argument(
        "--keep-going",
        action="store_true",
        help="run every cell even after a failing one (the notebook still counts as failed): whole-series times",
    )
    run.add_argument(
        "--write-outputs",
        action="store_true",
        help="for maintainers: store the fresh outputs in the notebooks that ran "
        "(name the ones you own: speechlib run --write-outputs 04)",
    )
    run.set_defaults(func=lambda args: report_errors("run", _cmd_run, args))

    register_training_commands(commands)  # train, evaluate, predict: speechlib/commands.py

    enrol_parser = commands.add_parser(
        "enrol",
        help="teach a model a new word from a few recordings of it (seconds, no retraining)",
        description="Add WORD to MODEL from at least 3 recordings CLIP... (any format soundfile reads, any rate, "
        "length and channel count; the second around the loudest part of each is kept) and save the new model to "
        "OUT, which `speechlib predict OUT FILE`, `speechlib listen FILE OUT` and `speechlib evaluate OUT` then "
        "use. Every head of the model gets one more output row, fitted to the clips against other speech; the "
        "model's other words keep their scores (speechlib.enrol). MODEL must be built on the speech embedding "
        "(default: models/transfer.pt; models/commands.pt knows 10 commands). Recordings of several people make "
        "a word that more people are recognised saying.",
    )
    enrol_parser.add_argument(
        "word", metavar="WORD", help="the new word's label (not one the model knows; no '/', no leading '_')"
    )
    enrol_parser.add_argument("clips", nargs="+", metavar="CLIP", help="recordings of the word (at least 3)")
    enrol_parser.add_argument("--model", default=None, help="model to teach (default: models/transfer.pt)")
    enrol_parser.add_argument("--out", required=True, help="where to save the new model (.pt), written atomically")
    enrol_parser.set_defaults(func=lambda args: report_errors("enrol", _cmd_enrol, args))

    from .listen import AVERAGE_SECONDS, SUPPRESS_SECONDS, THRESHOLD  # light: the constants only

    listen = commands.add_parser(
        "listen",
        help="listen to a long recording and print each keyword heard, with its time",
        description="Listen to FILE (any length, sample rate and channel count; read in blocks, in bounded "
        "memory) as the Recorder's Listen mode does: the model's probabilities every 80 ms, averaged over "
        "--average seconds; a word is reported when it is the best class and its average reaches --threshold, "
        "then nothing for --suppress seconds (notebook 11). Prints one line per word: time (seconds from the "
        'start of FILE at which it was reported), word, probability. --json writes {"detections": [{"word": '
        '..., "time": SECONDS, "probability": ...}], "file": ..., "model": ..., "seconds": ..., "settings": '
        "...}. MODEL must be built on the speech embedding (default: models/transfer.pt).",
    )
    listen.add_argument("file", help="audio file (WAV, FLAC, OGG: anything soundfile reads)")
    listen.add_argument("model", nargs="?", default=None, help="model file (default: models/transfer.pt)")
    listen.add_argument("--json", default=None, metavar="OUT", help="also write the detections to OUT")
    listen.add_argument("--threshold", type=float, default=THRESHOLD, help=f"default: {THRESHOLD}")
    listen.add_argument(
        "--average", type=float, default=AVERAGE_SECONDS, help=f"seconds averaged (default: {AVERAGE_SECONDS})"
    )
    listen.add_argument(
        "--suppress",
        type=float,
        default=SUPPRESS_SECONDS,
        help=f"seconds of quiet after a word (default: {SUPPRESS_SECONDS})",
    )
    listen.add_argument("--quiet", action="store_true", help="no progress bar")
    listen.set_defaults(func=lambda args: report_errors("listen", _cmd_listen, args))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
