"""Expected spikes per frame for every neuron of one fish, with the spike model of its frame rate.

    python scripts/infer_spikes.py --dff results/synthetic/dff/subject_1.h5 \\
        --model resources/spike_models/synthetic-<hash>/fps2.00.pt --out results/synthetic/rates/subject_1.h5
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import Command, arg, run
from sbm.io.errors import InputError
from sbm.spikes.choice import load_spike_model
from sbm.spikes.stage import write_rates


@dataclass(kw_only=True)
class Args(Command):
    dff: Path = arg("the fish's dff file")
    subject: str | None = arg("the fish it must hold (its `subject` attribute)", None)
    model: Path = arg("the spike model (train_spike_model.py)")
    fps_tolerance: float = arg("relative frame-rate mismatch allowed between fish and model", 0.1)
    out: Path = arg("HDF5: the rates file")


def main(args: Args) -> None:
    try:
        model = load_spike_model(torch.load(args.model, weights_only=False))
    except (OSError, RuntimeError, KeyError) as err:
        raise InputError(args.model, f"not a spike model: {err}") from err
    model_id = f"{args.model.parent.name}/{args.model.name}"
    write_rates(args.dff, model, args.out, model_id, args.fps_tolerance, subject=args.subject)


if __name__ == "__main__":
    sys.exit(run(main, Args))
