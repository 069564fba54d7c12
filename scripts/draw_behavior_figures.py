"""Draw figures 3A-C (behaviour) from results/<dataset>/eval/.

    python scripts/draw_behavior_figures.py --eval-dir results/synthetic/eval --out-dir results/synthetic/figures
"""

import argparse
import csv
import json
import sys
from pathlib import Path

from sbm import figures
from sbm.cli import run
from sbm.io.atomic import atomic_path, read_first_group


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval-dir", required=True)
    p.add_argument("--out-dir", required=True)
    args = p.parse_args(argv)
    src, out = Path(args.eval_dir), Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    behavior = json.loads((src / "behavior.json").read_text())
    search = json.loads((src / "search.json").read_text())
    drawings = {
        "fig3a_behavior.png": (figures.fig3a_behavior, behavior, read_first_group(src / "behavior_predictions.h5")),
        "fig3b_behavior_space.png": (figures.fig3b_behavior_space, list(csv.DictReader(open(src / "behavior_space.csv"))), search),
        "fig3c_pattern.png": (figures.fig3c_pattern, read_first_group(src / "search_pattern.h5"), search),
    }
    for name, (draw, *data) in drawings.items():
        with atomic_path(out / name) as tmp:  # an interrupted job leaves no half-written figure
            draw(*data, tmp)


if __name__ == "__main__":
    sys.exit(run(_main))
