"""DF/F with a causal baseline for one fish in the Chen et al. 2018 layout.

    python scripts/compute_dff.py --raw-dir resources/synthetic/raw/subject_1 --subject subject_1 \\
        --vocabulary results/synthetic/stimulus_vocabulary.json --out results/synthetic/dff/subject_1.h5
"""

import argparse
import json
import sys

from sbm.cli import run
from sbm.io.chen import open_fish
from sbm.io.errors import InputError
from sbm.spikes.dff import write_dff


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raw-dir", required=True, help="folder with TimeSeries.h5 and data_full.mat")
    p.add_argument("--subject", required=True)
    p.add_argument("--vocabulary", required=True, help="JSON written by stimulus_vocabulary.py")
    p.add_argument("--reader", default="{}", help='JSON: {"position_field": ..., "voxel_size_um": [x, y, z]}')
    p.add_argument("--dff", default="{}", help='JSON: {"baseline_window_s": 30, "baseline_percentile": 8, "block_neurons": 4096}')
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    reader, dff = json.loads(args.reader), json.loads(args.dff)
    try:
        vocabulary = json.loads(open(args.vocabulary).read())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(args.vocabulary, f"cannot read the stimulus vocabulary: {err}") from err
    fish = open_fish(args.raw_dir, args.subject, **reader)
    write_dff(fish, args.out, vocabulary, **dff)


if __name__ == "__main__":
    sys.exit(run(_main))
