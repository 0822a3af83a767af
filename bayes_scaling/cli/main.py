"""The parser of every command and ``main``, the console script's entry point."""

from __future__ import annotations

import argparse
import difflib
import functools
import os
import sys
import warnings

from . import checking, design, emergence, fitting, planning
from .output import EXIT_INPUT_ERROR, to_stderr
from .interrupt import UNFINISHED_OUTPUTS, exit_on_interrupt
from .options import configure_jax


def partial_files():
    """Partial output files (and folders made for them) to remove when the command is
    interrupted: fit files being written (none before the module that writes them is loaded;
    importing it here, from a signal, could deadlock) and `UNFINISHED_OUTPUTS`."""
    posterior = sys.modules.get("bayes_scaling.posterior")
    return (posterior.files_being_written() if posterior else set()) | UNFINISHED_OUTPUTS


def build_parser():
    parser = argparse.ArgumentParser(
        prog="bayes-scaling",
        description="Bayesian scaling-law fits and forecasts with honest uncertainty.",
        allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # No abbreviations: a typo such as --sample must fail, not silently mean --samples.
    sub.add_parser = functools.partial(sub.add_parser, allow_abbrev=False)
    parser.commands = sub.choices  # name -> its parser, for `parse`'s suggestions
    fitting.add_commands(sub)
    checking.add_commands(sub)
    emergence.add_commands(sub)
    planning.add_commands(sub)
    design.add_commands(sub)
    return parser


def parse(argv):
    """The parsed arguments; an unknown flag exits 2 naming it and the command's flags closest
    to it (``--chians`` -> ``did you mean --chains?``)."""
    parser = build_parser()
    words = sys.argv[1:] if argv is None else list(argv)
    name = next((word for word in words if word in parser.commands), None)
    if name is not None:
        # Checked before argparse parses: it reports a required flag as missing before it
        # reports an unknown one, so a typo in a required flag (--target-flop) would read as
        # the flag not given at all.
        command = parser.commands[name]
        known = {flag for action in command._actions for flag in action.option_strings}
        typos = [word for word in words[words.index(name) + 1:]
                 if word.startswith("--") and word.split("=")[0] not in known]
        if typos:
            command.error(unrecognized(command, typos))
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.commands[args.command].error(unrecognized(parser.commands[args.command], unknown))
    return args


def unrecognized(command, unknown):
    """The message for words ``command`` does not know, with the closest flag to each typo."""
    flags = [flag for action in command._actions for flag in action.option_strings
             if action.help is not argparse.SUPPRESS]  # not 0.1's hidden spellings
    typos = [word.split("=")[0] for word in unknown if word.startswith("--")]
    close = [(match[0], typo) for typo in typos
             for match in [difflib.get_close_matches(typo, flags, n=1, cutoff=0.75)] if match]
    # One typo needs no "for": the flag is enough; several say which typo each flag mends.
    guesses = [flag if len(close) == 1 else f"{flag} for {typo}" for flag, typo in close]
    hint = f" (did you mean {', '.join(guesses)}?)" if close else ""
    return f"unrecognized arguments: {' '.join(unknown)}{hint}"


# The file arguments a command reads, and what each is called in a message.
INPUT_FILES = {"runs": "file", "scores": "file", "fit": "fit file"}


def missing_input(args):
    """The message for a file argument that does not exist, or None. Checked before the library
    and JAX load (about 3 s), so a mistyped path fails at once; the loaders check again for
    what only reading can tell (a directory, a binary file, a bad cell)."""
    for name, what in INPUT_FILES.items():
        path = getattr(args, name, None)
        if isinstance(path, str) and not os.path.exists(path):
            return f"{path}: no such {what}"
    return None


def main(argv=None):
    """Run one command; ``argv`` None means this process's own command line (the console
    script), which also makes Ctrl-C end the process at once (`interrupt`)."""
    if argv is None:
        exit_on_interrupt(partial_files)
    args = parse(argv)
    for note in getattr(args, "deprecations", None) or []:
        to_stderr(note)
    missing = missing_input(args)
    if missing:
        to_stderr(f"bayes-scaling {args.command}: error: {missing}")
        return EXIT_INPUT_ERROR
    configure_jax(x64=args.x64, device=getattr(args, "device", "auto"))
    from ..errors import ConvergenceWarning, PriorError, RunsError

    with warnings.catch_warnings():
        # Every command announces a failed diagnostics gate itself (loudly, on stderr), so the
        # library's ConvergenceWarning would only repeat it; other warnings still show.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.showwarning = show_warning
        try:
            return args.func(args)
        except (RunsError, PriorError, ValueError, FileExistsError, FileNotFoundError) as err:
            to_stderr(f"bayes-scaling {args.command}: error: {err}")
            return EXIT_INPUT_ERROR
        except BrokenPipeError:  # e.g. piped into `head`: not an error worth a traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0


PYTHON_SHOWWARNING = warnings.showwarning


def show_warning(message, category, filename, lineno, file=None, line=None):
    """The library's warnings as one line, ``warning: ...``: Python's own form adds the file
    and source line that raised it, inside bayes_scaling, which tells a user nothing. Other
    packages' warnings keep Python's form (their origin is the useful part)."""
    if category.__module__.startswith("bayes_scaling"):
        to_stderr(f"warning: {message}")
    else:
        PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)

