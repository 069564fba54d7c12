"""Compare each simulated fish's DF/F with its ground truth: median r against the true rate, noise levels.

    python scripts/synthetic_qc.py --dff results/synthetic/dff/subject_*.h5 \\
        --ground-truth resources/synthetic/raw/subject_*/ground_truth.h5 --out qc.csv
"""

import argparse
import csv
import logging
import sys

from sbm.cli import run
from sbm.io.atomic import atomic_path
from sbm.spikes.qc import dff_vs_truth


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dff", nargs="+", required=True)
    p.add_argument("--ground-truth", nargs="+", required=True, help="in the same order as --dff")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if len(args.dff) != len(args.ground_truth):
        p.error("--dff and --ground-truth need the same number of files")
    rows = [dff_vs_truth(d, g) for d, g in zip(args.dff, args.ground_truth)]
    with atomic_path(args.out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        logging.info("%s", row)


if __name__ == "__main__":
    sys.exit(run(_main))
