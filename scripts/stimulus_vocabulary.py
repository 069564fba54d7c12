"""One stimulus vocabulary across every fish of a dataset (protocols differ between fish).

    python scripts/stimulus_vocabulary.py --data-full raw/subject_*/data_full.mat --names '{"0": "all_black"}' \\
        --out stimulus_vocabulary.json
    python scripts/stimulus_vocabulary.py --recordings my_fish/*.nwb --out stimulus_vocabulary.json
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.atomic import write_json
from sbm.io.chen import chen_folder, read_stim_codes
from sbm.io.nwb import NWBSettings
from sbm.io.recording import recording_vocabulary
from sbm.io.sources import recording_stimulus_names
from sbm.spikes.dff import build_vocabulary


@dataclass(kw_only=True)
class Args(Command):
    data_full: list[Path] = arg("Chen layout: data_full.mat of every fish, each in its subject's folder", [])
    recordings: list[Path] = arg("other sources: every fish's table or NWB file", [])
    nwb: dict = arg("the config's `nwb` section (NWB files: which RoiResponseSeries gives the frame times)", {})
    names: dict = arg("stimulus code -> readable name (for recordings: the order of the names they share)", {})
    out: Path = arg("JSON: the vocabulary")


def main(args: Args) -> None:
    if args.recordings:
        canonical = [name for _, name in sorted(args.names.items(), key=lambda item: int(item[0]))]
        names = {f.stem: recording_stimulus_names(f, NWBSettings.from_dict(args.nwb)) for f in args.recordings}
        vocabulary = recording_vocabulary(names, canonical)
    else:
        codes = {chen_folder(f).name: read_stim_codes(chen_folder(f)) for f in args.data_full}
        vocabulary = build_vocabulary(codes, args.names)
    write_json(args.out, vocabulary)
    logging.info(
        "%d stimuli across %d fish: %s", len(vocabulary["names"]), len(vocabulary["subjects"]), vocabulary["names"]
    )


if __name__ == "__main__":
    sys.exit(run(main, Args))
