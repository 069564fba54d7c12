"""Print the folder of a config's spike models (one file per frame rate), as the workflow names it,
before anything is downloaded or trained: to find the models, copy them between machines, or check
that two configs share them.

    python scripts/spike_model_dir.py --configfile config/chen2018.yaml
    python scripts/spike_model_dir.py --configfile config/chen2018.yaml my_changes.yaml

Config files are merged in order, as `snakemake --configfile a.yaml b.yaml` merges them. The
folder is keyed by the ground truth's content and the settings the models are trained with
(sbm.workflow.spike_model_dir), not by where the ground truth lies. It is relative to the folder
Snakemake runs in.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.errors import InputError
from sbm.workflow import read_config, spike_model_dir


@dataclass(kw_only=True)
class Args(Command):
    configfile: list[Path] = arg("workflow config files, merged in order")


def main(args: Args) -> None:
    config = read_config(*args.configfile)
    try:
        print(spike_model_dir(config))
    except FileNotFoundError as err:
        raise InputError(args.configfile[-1], f"spikes.ground_truth_dir: {err}") from err


if __name__ == "__main__":
    sys.exit(run(main, Args))
