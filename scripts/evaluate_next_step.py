"""Next-step MAE and calibration of the trained SBM on the held-out fish, beside baselines on the same windows.

    python scripts/evaluate_next_step.py --weights results/synthetic/sbm/weights.pt \\
        --split results/synthetic/split.yaml --probs-dir results/synthetic/probs --out next_step.json \\
        --states-out next_step_states.h5 --keep-states 512
"""

import argparse
import logging
import sys

import torch

from sbm.cli import run
from sbm.eval.load import add_arguments, from_arguments
from sbm.eval.metrics import Reliability
from sbm.eval.next_step import next_step_errors, summarise
from sbm.io.atomic import write_h5_groups, write_json


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--stride", type=int, default=1, help="frames between evaluated windows")
    p.add_argument("--keep-states", type=int, default=512, help="evenly spaced windows per fish whose true and forecast frames are kept")
    p.add_argument("--states-out", help="HDF5 of the kept brain states (for evaluate_fidelity.py)")
    args = p.parse_args(argv)
    heldout, paths, model, forecasters = from_arguments(args)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    reliability = {name: Reliability() for name in ("sbm", "persistence", "ridge", "mlp")}
    if args.states_out and args.keep_states < 10:
        p.error("--keep-states must be at least 10 with --states-out (the fidelity comparison needs them)")
    keep = args.keep_states if args.states_out else 0
    per_fish = [next_step_errors(model, path, args.stride, args.batch_size, device, forecasters, reliability, keep, progress=True) for path in paths]
    if args.states_out:  # one group per fish: frame (W,), truth (W, N), one (W, N) per forecaster
        write_h5_groups(args.states_out, {fish["subject"]: fish.pop("states") for fish in per_fish})
    calibration = {name: r.result() for name, r in reliability.items() if r.count.sum() > 0}
    for fish in per_fish:
        fish.pop("states", None)
    result = {"heldout": heldout, "stride": args.stride, "context": model.cfg.context, **summarise(per_fish),
              "ece": {name: c["ece"] for name, c in calibration.items()}, "calibration": calibration,
              "baseline_fits": forecasters.info if forecasters else None}
    logging.info("held-out next-step MAE: %s; SBM / baseline: %s; ECE: %s", result["mae"], result["sbm_over_baseline"], result["ece"])
    write_json(args.out, result)


if __name__ == "__main__":
    sys.exit(run(_main))
