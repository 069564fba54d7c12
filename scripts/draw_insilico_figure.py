"""The in-silico experiments' figure (sbm.figures.fig_insilico), drawn from the stage's files only.

    python scripts/draw_insilico_figure.py --metrics eval/insilico.json \\
        --responses eval/insilico_responses.h5 --out figures/insilico.png
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm import figures
from sbm.cli import Command, arg, run
from sbm.io.atomic import atomic_path
from sbm.io.contracts import INSILICO_RESPONSES, Insilico, first_group, read_result


@dataclass(kw_only=True)
class Args(Command):
    metrics: Path = arg("eval/insilico.json (insilico.py)")
    responses: Path = arg("eval/insilico_responses.h5 (its first held-out fish is drawn)")
    out: Path = arg("PNG: in-silico responses, predicted and (simulated fish) true")


def main(args: Args) -> None:
    insilico, responses = read_result(args.metrics, Insilico), first_group(args.responses, INSILICO_RESPONSES)
    with atomic_path(args.out) as tmp:
        figures.fig_insilico(insilico, responses, tmp)


if __name__ == "__main__":
    sys.exit(run(main, Args))
