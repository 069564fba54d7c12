"""Expected spikes per frame for every neuron of one fish's dff file, with a trained spike model.

    python scripts/infer_spikes.py --dff results/synthetic/dff/subject_1.h5 \\
        --model resources/spike_models/<key>/fps2.00.pt --out results/synthetic/rates/subject_1.h5
"""

import argparse
import sys
from pathlib import Path

import torch

from sbm.cli import run
from sbm.io.errors import InputError
from sbm.spikes.model import SpikeModel
from sbm.spikes.stage import write_rates


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dff", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--fps-tolerance", type=float, default=0.1, help="relative frame-rate mismatch allowed")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        model = SpikeModel.from_state(torch.load(args.model, weights_only=False))
    except (OSError, RuntimeError, KeyError) as err:
        raise InputError(args.model, f"not a spike model: {err}") from err
    model_id = f"{Path(args.model).parent.name}/{Path(args.model).name}"
    write_rates(args.dff, model, args.out, model_id, args.fps_tolerance)


if __name__ == "__main__":
    sys.exit(run(_main))
