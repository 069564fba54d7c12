"""The in-silico experiments as one self-contained HTML page (sbm.insilico_page): open it in any
browser, offline.

    python scripts/insilico_page.py --metrics results/synthetic/eval/insilico.json \\
        --responses results/synthetic/eval/insilico_responses.h5 --out results/synthetic/insilico.html
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.insilico_page import page_data, page_html
from sbm.io.atomic import atomic_path
from sbm.io.contracts import Insilico, read_result


@dataclass(kw_only=True)
class Args(Command):
    metrics: Path = arg("eval/insilico.json (insilico.py)")
    responses: Path = arg("eval/insilico_responses.h5 (insilico.py)")
    out: Path = arg("the HTML page")


def main(args: Args) -> None:
    html = page_html(page_data(args.responses, read_result(args.metrics, Insilico)))
    with atomic_path(args.out) as tmp:
        tmp.write_text(html)


if __name__ == "__main__":
    sys.exit(run(main, Args))
