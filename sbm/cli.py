"""What every script in scripts/ shares: a command line generated from one dataclass, logging to
stderr, and a clean exit on bad input.

Each script declares its arguments once, as a dataclass of `arg` fields (Args); `parser` builds the
argparse parser from it (`--name-with-dashes` per field, the type from the annotation, required
unless it has a default). The workflow passes a rule's named inputs, outputs, wildcards and
settings under the same names (sbm.workflow.command_line), and a test parses every planned job's
command with its script's parser, so the rule and the script cannot drift apart.
"""

import argparse
import json
import logging
import sys
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Callable

from sbm.io.errors import DownloadError, InputError


def arg(help: str, default=MISSING):
    """A command-line argument: its help, and its default (none: the argument is required)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass(kw_only=True)
class Command:
    """What every script's arguments share (each script's Args dataclass extends it)."""

    threads: int = arg("CPU threads PyTorch may use (0: its default)", 0)


def parser(cls) -> argparse.ArgumentParser:
    """The argparse parser of an arguments dataclass: str, int, float, Path, bool (a flag), dict
    (a JSON object), list[...] (one or more values), X | None (optional)."""
    module = sys.modules.get(cls.__module__)  # the script's docstring: what it does, how to call it
    p = argparse.ArgumentParser(
        description=module.__doc__ if module else None, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        kind, flag = hints[f.name], "--" + f.name.replace("_", "-")
        required = f.default is MISSING and f.default_factory is MISSING
        default = None if required else (f.default if f.default is not MISSING else f.default_factory())
        options = {"help": f.metadata.get("help", ""), "required": required, "dest": f.name}
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None
            kind = next(k for k in typing.get_args(kind) if k is not type(None))
        if kind is bool:
            p.add_argument(flag, action="store_true", help=options["help"], dest=f.name)
        elif kind is dict:
            p.add_argument(flag, type=json_object, default=default, metavar="JSON", **options)
        elif typing.get_origin(kind) is list:
            item = typing.get_args(kind)[0]
            p.add_argument(flag, type=item, nargs="+" if required else "*", default=default, **options)
        else:
            p.add_argument(flag, type=kind, default=default, **options)
    return p


def json_object(text: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text[:60]!r}")
    return value


def parse(cls, argv: list[str] | None = None):
    """An instance of the arguments dataclass `cls` from a command line."""
    return cls(**vars(parser(cls).parse_args(argv)))


def run(main: Callable, cls, argv: list[str] | None = None) -> int:
    """Parse the command line into `cls` and call main(args). Expected failures (bad input, a
    download that gave up, a training that diverged) print one line `error: <problem>` and return
    1, so a Snakemake log ends with the reason. A `threads` argument sets PyTorch's threads, where
    the script uses PyTorch."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse(cls, argv)
    if getattr(args, "threads", 0) and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(args.threads)
    try:
        main(args)
    except (InputError, DownloadError, FloatingPointError) as err:  # FloatingPointError: a diverged training
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def read_json(path: Path) -> dict:
    """A JSON file another stage wrote, refused with the file's name if it cannot be read."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(path, f"cannot be read as JSON: {err}") from err
