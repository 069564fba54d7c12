"""DF/F with a causal baseline for one fish in the Chen et al. 2018 layout.

    python scripts/compute_dff.py --timeseries raw/subject_1/TimeSeries.h5 --data-full raw/subject_1/data_full.mat \\
        --subject subject_1 --vocabulary results/synthetic/stimulus_vocabulary.json \
        --out results/synthetic/dff/subject_1.h5
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, read_json, run
from sbm.io.chen import chen_folder, read_chen_fish
from sbm.spikes.dff import write_chen_dff


@dataclass(kw_only=True)
class Args(Command):
    timeseries: Path = arg("the fish's TimeSeries.h5")
    data_full: Path = arg("the fish's data_full.mat, beside it")
    subject: str = arg("the fish's name, written into the file")
    vocabulary: Path = arg("JSON written by stimulus_vocabulary.py")
    reader: dict = arg("the config's `reader` section: position_field, voxel_size_um", {})
    dff: dict = arg("the config's `dff` section: baseline_window_s, baseline_percentile, block_neurons", {})
    out: Path = arg("HDF5: the dff file")


def main(args: Args) -> None:
    fish = read_chen_fish(chen_folder(args.timeseries, args.data_full), args.subject, **args.reader)
    write_chen_dff(fish, args.out, read_json(args.vocabulary), **args.dff)


if __name__ == "__main__":
    sys.exit(run(main, Args))
