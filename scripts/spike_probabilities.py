"""P(spike in frame) = 1 - exp(-expected spikes) for one fish, with what the model stages need beside it.

    python scripts/spike_probabilities.py --rates results/synthetic/rates/subject_1.h5 \\
        --dff results/synthetic/dff/subject_1.h5 --out results/synthetic/probs/subject_1.h5
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.spikes.stage import write_probabilities


@dataclass(kw_only=True)
class Args(Command):
    rates: Path = arg("the fish's rates file")
    subject: str | None = arg("the fish both files must hold (their `subject` attribute)", None)
    dff: Path = arg("its dff file (positions, stimulus, behaviour)")
    out: Path = arg("HDF5: the probs file")


def main(args: Args) -> None:
    write_probabilities(args.rates, args.dff, args.out, subject=args.subject)


if __name__ == "__main__":
    sys.exit(run(main, Args))
