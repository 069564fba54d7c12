"""One stimulus vocabulary across every fish of a dataset (protocols differ between fish).

    python scripts/stimulus_vocabulary.py --data-full raw/subject_*/data_full.mat --names '{"0": "all_black"}' \\
        --out stimulus_vocabulary.json
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.atomic import write_json
from sbm.io.chen import chen_folder, read_stim_codes
from sbm.spikes.dff import build_vocabulary


@dataclass(kw_only=True)
class Args(Command):
    data_full: list[Path] = arg("data_full.mat of every fish, each in its subject's folder")
    names: dict = arg("stimulus code -> readable name", {})
    out: Path = arg("JSON: the vocabulary")


def main(args: Args) -> None:
    codes = {chen_folder(f).name: read_stim_codes(chen_folder(f)) for f in args.data_full}
    vocabulary = build_vocabulary(codes, args.names)
    write_json(args.out, vocabulary)
    logging.info("%d stimulus codes across %d fish: %s", len(vocabulary["codes"]), len(codes), vocabulary["names"])


if __name__ == "__main__":
    sys.exit(run(main, Args))
