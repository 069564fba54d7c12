"""Compare each simulated fish's DF/F with its ground truth: median r against the true rate, noise levels.

    python scripts/synthetic_qc.py --dff results/synthetic/dff/subject_*.h5 \\
        --ground-truth resources/synthetic/raw/subject_*/ground_truth.h5 --out qc.csv
"""

import csv
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.atomic import atomic_path
from sbm.io.errors import InputError
from sbm.spikes.qc import dff_vs_truth


@dataclass(kw_only=True)
class Args(Command):
    dff: list[Path] = arg("dff files")
    ground_truth: list[Path] = arg("the simulator's ground_truth.h5 of each, in the same order")
    out: Path = arg("CSV: one row per fish")


def main(args: Args) -> None:
    if len(args.dff) != len(args.ground_truth):
        raise InputError(args.dff[0], f"{len(args.dff)} dff files but {len(args.ground_truth)} ground-truth files")
    rows = [dff_vs_truth(d, g) for d, g in zip(args.dff, args.ground_truth)]
    with atomic_path(args.out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        logging.info("%s", row)


if __name__ == "__main__":
    sys.exit(run(main, Args))
