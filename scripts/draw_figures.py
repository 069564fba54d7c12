"""Draw figures 1B, 1C, 2A-D (and the connectome panel, synthetic data) from results/<dataset>/eval/.

    python scripts/draw_figures.py --eval-dir results/synthetic/eval --out-dir results/synthetic/figures
"""

import argparse
import csv
import json
import sys
from pathlib import Path

from sbm import figures
from sbm.cli import run
from sbm.io.atomic import atomic_path, read_first_group


def drawn(out_dir: Path, name: str, draw, *data) -> None:
    """Draw to a temporary name and rename: an interrupted job leaves no half-written figure."""
    with atomic_path(out_dir / name) as tmp:
        draw(*data, tmp)


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval-dir", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--connectome", action="store_true", help="also draw eval/connectome.json (synthetic data)")
    args = p.parse_args(argv)
    src, out = Path(args.eval_dir), Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    next_step = json.loads((src / "next_step.json").read_text())
    rollout = json.loads((src / "rollout.json").read_text())
    example = read_first_group(src / "rollout_example.h5")  # the first held-out fish's rollout example
    embedding = list(csv.DictReader(open(src / "embedding.csv")))
    fidelity = json.loads((src / "fidelity.json").read_text())
    drawn(out, "fig1b_brain_maps.png", figures.fig1b_brain_maps, example)
    drawn(out, "fig1c_traces.png", figures.fig1c_traces, example)
    drawn(out, "fig2a_calibration.png", figures.fig2a_calibration, next_step)
    drawn(out, "fig2b_context.png", figures.fig2b_context, next_step)
    drawn(out, "rollouts.png", figures.fig_rollouts, rollout)
    drawn(out, "fig2d_fidelity.png", figures.fig2d_fidelity, embedding, fidelity)
    if args.connectome:
        drawn(out, "connectome.png", figures.fig_connectome, json.loads((src / "connectome.json").read_text()))
    rows = figures.next_step_table(next_step)
    with atomic_path(out / "next_step_table.csv") as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with atomic_path(out / "next_step_table.html") as tmp:
        tmp.write_text(figures.html_table(rows, f"Held-out fish {', '.join(next_step['heldout'])}: next-step MAE of spike probability"))


if __name__ == "__main__":
    sys.exit(run(_main))
