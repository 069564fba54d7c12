"""Simulate one fish in the exact Chen et al. 2018 layout, plus its ground truth.

    python scripts/simulate_fish.py --subject subject_1 --timeseries raw/subject_1/TimeSeries.h5 \\
        --data-full raw/subject_1/data_full.mat --ground-truth raw/subject_1/ground_truth.h5 \\
        --settings '{"n_neurons": 2000}'
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.chen import chen_folder
from sbm.synth.fish import SimConfig, simulate_fish


@dataclass(kw_only=True)
class Args(Command):
    subject: str = arg("subject_<n>; n seeds the fish")
    timeseries: Path = arg("TimeSeries.h5 to write")
    data_full: Path = arg("data_full.mat to write, beside it")
    ground_truth: Path = arg("ground_truth.h5 to write, beside it")
    settings: dict = arg("SimConfig fields (the config's `synthetic` section)", {})
    progress: bool = arg("show a progress bar", False)


def main(args: Args) -> None:
    cfg = SimConfig.from_dict(args.settings)
    logging.info("settings: %s", cfg)
    folder = chen_folder(args.timeseries, args.data_full, args.ground_truth)
    logging.info("%s", simulate_fish(cfg, args.subject, folder, progress=args.progress))


if __name__ == "__main__":
    sys.exit(run(main, Args))
