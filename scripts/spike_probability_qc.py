"""What each fish's spike probabilities say, beside what to check them against: a summary and its figure.

    python scripts/spike_probability_qc.py --probs results/synthetic/probs/subject_*.h5 \\
        [--ground-truth resources/synthetic/raw/subject_*/ground_truth.h5] \\
        --summary results/synthetic/qc/spike_probabilities.json \\
        --figure results/synthetic/figures/spike_probabilities.png
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm import figures
from sbm.cli import Command, arg, run
from sbm.io.atomic import atomic_path
from sbm.io.errors import InputError
from sbm.spikes.qc import probability_summary


@dataclass(kw_only=True)
class Args(Command):
    probs: list[Path] = arg("probs files, one per fish")
    ground_truth: list[Path] = arg("the simulator's ground_truth.h5 of each, in the same order (simulated fish)", [])
    summary: Path = arg("JSON: one entry per fish (every number the figure shows)")
    figure: Path = arg("PNG: the histogram of p per fish beside the fraction of frames with a spike")


def main(args: Args) -> None:
    if args.ground_truth and len(args.ground_truth) != len(args.probs):
        raise InputError(
            args.probs[0], f"{len(args.probs)} probs files but {len(args.ground_truth)} ground-truth files"
        )
    truths = args.ground_truth or [None] * len(args.probs)
    summaries = [probability_summary(p, t) for p, t in zip(args.probs, truths)]
    with atomic_path(args.summary) as tmp:
        Path(tmp).write_text(json.dumps(summaries, indent=1))
    with atomic_path(args.figure) as tmp:
        figures.fig_spike_probabilities(summaries, tmp)


if __name__ == "__main__":
    sys.exit(run(main, Args))
