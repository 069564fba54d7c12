"""Figures 3A (predicted against observed behaviour), 3B (behaviour space) and 3C (an optimised pattern),
drawn from the behaviour evaluation's files only.

    python scripts/draw_behavior_figures.py --behavior eval/behavior.json --predictions eval/behavior_predictions.h5 \
        --search eval/search.json --space eval/behavior_space.csv --pattern eval/search_pattern.h5 \
        --fig3a fig3a.png --fig3b fig3b.png --fig3c fig3c.png
"""

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm import figures
from sbm.cli import Command, arg, run
from sbm.io.atomic import atomic_path
from sbm.io.contracts import BEHAVIOR_PREDICTIONS, SEARCH_PATTERN, Behavior, Search, first_group, read_result


@dataclass(kw_only=True)
class Args(Command):
    behavior: Path = arg("eval/behavior.json")
    predictions: Path = arg("eval/behavior_predictions.h5 (its first held-out fish is drawn)")
    search: Path = arg("eval/search.json")
    space: Path = arg("eval/behavior_space.csv")
    pattern: Path = arg("eval/search_pattern.h5")
    fig3a: Path = arg("PNG: predicted against observed behaviour")
    fig3b: Path = arg("PNG: the behaviour space")
    fig3c: Path = arg("PNG: an optimised pattern on the brain")


def main(args: Args) -> None:
    behavior, search = read_result(args.behavior, Behavior), read_result(args.search, Search)
    with open(args.space) as f:
        space = list(csv.DictReader(f))
    drawings = {
        args.fig3a: (figures.fig3a_behavior, behavior, first_group(args.predictions, BEHAVIOR_PREDICTIONS)),
        args.fig3b: (figures.fig3b_behavior_space, space, search),
        args.fig3c: (figures.fig3c_pattern, first_group(args.pattern, SEARCH_PATTERN), search),
    }
    for path, (draw, *data) in drawings.items():
        with atomic_path(path) as tmp:  # an interrupted job leaves no half-written figure
            draw(*data, tmp)


if __name__ == "__main__":
    sys.exit(run(main, Args))
