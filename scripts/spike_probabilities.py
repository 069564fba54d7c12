"""Spike probabilities p = 1 - exp(-lambda) for one fish, with what the model stages need beside them.

    python scripts/spike_probabilities.py --rates results/synthetic/rates/subject_1.h5 \\
        --dff results/synthetic/dff/subject_1.h5 --out results/synthetic/probs/subject_1.h5
"""

import argparse
import sys

from sbm.cli import run
from sbm.spikes.stage import write_probabilities


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", required=True)
    p.add_argument("--dff", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    write_probabilities(args.rates, args.dff, args.out)


if __name__ == "__main__":
    sys.exit(run(_main))
