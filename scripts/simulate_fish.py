"""Simulate one fish in the Chen et al. 2018 layout (TimeSeries.h5, data_full.mat) plus ground_truth.h5.

    python scripts/simulate_fish.py --subject subject_1 --out-dir resources/synthetic/raw/subject_1 \\
        --settings '{"n_neurons": 2000, "n_frames": 1500}'
"""

import argparse
import json
import logging
import sys

from sbm.cli import run
from sbm.synth.fish import SimConfig, simulate_fish


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subject", required=True, help="subject_<n>; n seeds the fish")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--settings", default="{}", help="JSON object of SimConfig fields (the config's `synthetic` section)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    args = p.parse_args(argv)
    cfg = SimConfig.from_dict(json.loads(args.settings))
    logging.info("settings: %s", cfg)
    logging.info("%s", simulate_fish(cfg, args.subject, args.out_dir, progress=args.progress))


if __name__ == "__main__":
    sys.exit(run(_main))
