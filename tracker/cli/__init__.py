"""``tracker`` command line: a thin adapter over the library.

Each subcommand lives in its own module with ``register(subparsers)``, which adds its
parser and sets ``func``. Errors a user can act on (:class:`TrackerError`) print as one
line and exit 2 (1 for a :class:`~tracker.errors.StorageError`: a full disk, a read-only
run directory); any other operating-system error (an output that cannot be written) prints
as one line and exits 1. ``--debug`` shows the traceback. Notes (a corrupt unit file set
aside) print as ``tracker: note: ...`` lines on stderr (:mod:`tracker.cli.progress`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from tracker.errors import TrackerError, describe_os_error

# Subcommand modules, in the order `tracker --help` lists them.
COMMANDS = ("eval", "families", "tasks", "status", "export", "fit", "report", "train", "import",
            "forecast")


PUBLISHED_DATA = """\
published data shipped with tracker, imported offline (docs/real-families.md):
  tracker import lm-eval --published pythia-v1        Pythia's lm-eval results (Apache-2.0)
  tracker import lm-eval --published pythia-v0        Pythia v0, WikiText bits per byte (Apache-2.0)
  tracker import table --published olmo-ladder        OLMo ladder + OLMo-2 7B/13B (Apache-2.0)
  tracker import table --published open-lm-scaling    open_lm's 104 models (MIT)"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only`` that one (so that `tracker eval` does
    not import what `tracker fit` needs: scipy alone is a second at start-up)."""
    parser = argparse.ArgumentParser(
        prog="tracker",
        description="Loss-versus-performance checkpoint tracker for language models.",
        epilog=PUBLISHED_DATA,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if only is None else (only,):
        module_name = f"tracker.cli.{name}_cmd"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue  # a subcommand not built into this installation
        module.register(subparsers)
    return parser


def _named_command(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names (its first non-option word) when it is a known one."""
    words = [word for word in argv if not word.startswith("-")]
    return words[0] if words and words[0] in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(_named_command(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    from tracker.cli.progress import show_library_log

    show_library_log()
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, where it is caught, not at exit
        return code
    except TrackerError as error:
        if args.debug:
            raise
        print(f"tracker: error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # `tracker ... | head` closed the pipe: nothing left to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that Python's exit flush stays quiet
        return 1
    except OSError as error:  # e.g. a report or export written into a read-only directory
        if args.debug:
            raise
        where = f"{error.filename}: " if error.filename else ""
        print(f"tracker: error: {where}{describe_os_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tracker: interrupted; finished units are stored, re-run to continue",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
