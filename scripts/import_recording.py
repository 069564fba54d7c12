"""One fish's table or NWB file into the pipeline, at the stage where its kind of activity enters:
the dff file (kind fluorescence: DF/F with the causal baseline; kind dff: as it is), or the probs
file (kind activity: already in [0, 1]).

    python scripts/import_recording.py --recording my_fish/subject_1.nwb --subject subject_1 \\
        --vocabulary results/mine/stimulus_vocabulary.json --entry dff --out results/mine/dff/subject_1.h5
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, read_json, run
from sbm.io.errors import InputError
from sbm.io.nwb import NWBSettings
from sbm.io.recording import align_stimulus
from sbm.io.sources import read_recording
from sbm.spikes.dff import write_dff
from sbm.spikes.stage import write_given_probabilities


@dataclass(kw_only=True)
class Args(Command):
    recording: Path = arg("the fish's table (.h5, .hdf5, .npz) or NWB (.nwb) file")
    subject: str = arg("the fish's name, written into the file")
    vocabulary: Path = arg("JSON written by stimulus_vocabulary.py")
    nwb: dict = arg("the config's `nwb` section: which series, neuropil, ROIs and pixel size (NWB files)", {})
    entry: str = arg("the stage the dataset enters at, checked against the file's kind: dff or probs")
    dff: dict = arg("the config's `dff` section: baseline_window_s, baseline_percentile, block_neurons", {})
    out: Path = arg("HDF5: the dff file (entry dff) or the probs file (entry probs)")


def main(args: Args) -> None:
    rec = read_recording(args.recording, args.subject, NWBSettings.from_dict(args.nwb))
    entry = "probs" if rec.kind == "activity" else "dff"
    if entry != args.entry:
        raise InputError(args.recording, f"holds kind {rec.kind!r}, which enters at {entry}, not {args.entry}: rerun")
    names = read_json(args.vocabulary)["names"]
    stimulus = align_stimulus(rec, names)
    if entry == "probs":
        write_given_probabilities(rec, stimulus, names, args.out)
    else:
        write_dff(rec, args.out, stimulus, names, **args.dff)


if __name__ == "__main__":
    sys.exit(run(main, Args))
