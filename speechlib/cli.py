"""The ``speechlib`` command line (also ``python -m speechlib``).

Each subcommand lives beside the code it drives; this file only wires them together.
"""

from __future__ import annotations

import argparse
import sys

from .commands import register as register_training_commands


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="speechlib",
        description="Speech Commands from raw audio to a trained recognizer. "
        "Run `speechlib COMMAND --help` for each command.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    download = commands.add_parser(
        "download", help="download and extract the real Speech Commands set (resumable, checksummed)",
        description="Stream the official archive with a progress bar, resume a partial download, "
        "verify its SHA-256, then extract it safely. Running it again does nothing once the set is there.")
    download.add_argument("--version", choices=["v0.02", "v0.01"], default="v0.02",
                          help="dataset version (default: v0.02, 35 words)")
    download.add_argument("--root", default=None,
                          help="folder to download into (default: the repository's data/ folder); "
                          "the set lands in ROOT/SpeechCommands/speech_commands_VERSION")
    download.set_defaults(func=_cmd_download)

    register_training_commands(commands)  # train, evaluate, predict: speechlib/commands.py
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
