"""Figures 1B, 1C, 2A-D, the rollouts, the adaptation, the next-step table and (simulated data) the
connectome panel, drawn from the evaluation's files only.

    python scripts/draw_figures.py --next-step eval/next_step.json --rollout eval/rollout.json \
        --example eval/rollout_example.h5 --fidelity eval/fidelity.json --embedding eval/embedding.csv \
        --adapt eval/adapt.json [--connectome eval/connectome.json] --fig1b fig1b.png --fig1c fig1c.png \
        --fig2a fig2a.png --fig2b fig2b.png --rollouts rollouts.png --adapt-figure adapt.png --fig2d fig2d.png \
        --table table.html --table-csv table.csv \
        [--connectome-figure connectome.png]
"""

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm import figures
from sbm.cli import Command, arg, run
from sbm.io.atomic import atomic_path
from sbm.io.contracts import ROLLOUT_EXAMPLE, Adapt, Connectome, Fidelity, NextStep, Rollout, first_group, read_result
from sbm.io.errors import InputError


@dataclass(kw_only=True)
class Args(Command):
    next_step: Path = arg("eval/next_step.json")
    rollout: Path = arg("eval/rollout.json")
    example: Path = arg("eval/rollout_example.h5 (its first held-out fish is drawn)")
    fidelity: Path = arg("eval/fidelity.json")
    embedding: Path = arg("eval/embedding.csv")
    connectome: Path | None = arg("eval/connectome.json (simulated data)", None)
    adapt: Path = arg("eval/adapt.json")
    fig1b: Path = arg("PNG: brain maps, observed against the rollout and their difference")
    fig1c: Path = arg("PNG: neuron traces")
    fig2a: Path = arg("PNG: calibration and mean activity")
    fig2b: Path = arg("PNG: MAE against context length")
    rollouts: Path = arg("PNG: rollout MAE and mean activity against horizon")
    adapt_figure: Path = arg("PNG: MAE against the minutes of a new fish tuned on")
    fig2d: Path = arg("PNG: PCA and UMAP of observed and forecast states")
    table: Path = arg("HTML: the next-step table")
    table_csv: Path = arg("CSV: the next-step table")
    connectome_figure: Path | None = arg("PNG: attention against the simulator's wiring (with --connectome)", None)


def drawn(path: Path, draw, *data) -> None:
    """Draw to a temporary name and rename: an interrupted job leaves no half-written figure."""
    with atomic_path(path) as tmp:
        draw(*data, tmp)


def main(args: Args) -> None:
    next_step, rollout = read_result(args.next_step, NextStep), read_result(args.rollout, Rollout)
    fidelity = read_result(args.fidelity, Fidelity)
    example = first_group(args.example, ROLLOUT_EXAMPLE)
    with open(args.embedding) as f:
        embedding = list(csv.DictReader(f))
    drawn(args.fig1b, figures.fig1b_brain_maps, example)
    drawn(args.fig1c, figures.fig1c_traces, example)
    drawn(args.fig2a, figures.fig2a_calibration, next_step)
    drawn(args.fig2b, figures.fig2b_context, next_step)
    drawn(args.rollouts, figures.fig_rollouts, rollout)
    drawn(args.adapt_figure, figures.fig_adapt, read_result(args.adapt, Adapt))
    drawn(args.fig2d, figures.fig2d_fidelity, embedding, fidelity)
    if (args.connectome is None) != (args.connectome_figure is None):
        raise InputError(args.connectome or args.connectome_figure, "--connectome and --connectome-figure go together")
    if args.connectome:
        drawn(args.connectome_figure, figures.fig_connectome, read_result(args.connectome, Connectome))
    rows = figures.next_step_table(next_step)
    with atomic_path(args.table_csv) as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with atomic_path(args.table) as tmp:
        tmp.write_text(
            figures.html_table(
                rows, f"Held-out fish {', '.join(next_step['heldout'])}: next-step MAE of spike probability"
            )
        )


if __name__ == "__main__":
    sys.exit(run(main, Args))
