"""P(spike in frame) = 1 - exp(-expected spikes) for one fish, with what the model stages need beside it.

    python scripts/spike_probabilities.py --rates results/synthetic/rates/subject_1.h5 \\
        --dff results/synthetic/dff/subject_1.h5 --out results/synthetic/probs/subject_1.h5

A simulated fish can instead give the forecasters the simulator's true probabilities to read
(--inputs truth) or to be trained on (--targets truth, with --truth its ground_truth.h5): the
rungs of the known-answer ladder (benchmarks/interactions_ladder.py).
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.eval.truth import use_truth
from sbm.io.atomic import atomic_path
from sbm.io.errors import InputError
from sbm.spikes.stage import write_probabilities


@dataclass(kw_only=True)
class Args(Command):
    rates: Path = arg("the fish's rates file")
    subject: str | None = arg("the fish both files must hold (their `subject` attribute)", None)
    dff: Path = arg("its dff file (positions, stimulus, behaviour)")
    inputs: str = arg("what forecasters read: inferred, or truth (simulated fish: the true probability)", "inferred")
    targets: str = arg("what forecasters are trained on: inferred, or truth", "inferred")
    truth: Path | None = arg("simulated fish: its ground_truth.h5 (--inputs or --targets truth)", None)
    out: Path = arg("HDF5: the probs file")


def main(args: Args) -> None:
    if "truth" in (args.inputs, args.targets) and args.truth is None:
        raise InputError(args.rates, "--inputs or --targets truth needs --truth (the simulator's ground_truth.h5)")
    with atomic_path(args.out) as tmp:
        write_probabilities(args.rates, args.dff, tmp, subject=args.subject)
        use_truth(tmp, args.truth, args.inputs, args.targets)


if __name__ == "__main__":
    sys.exit(run(main, Args))
