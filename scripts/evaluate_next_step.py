"""Next-step MAE and calibration of the trained SBM on the held-out fish, beside baselines on the same windows.

    python scripts/evaluate_next_step.py --weights results/synthetic/sbm/weights.pt \\
        --split results/synthetic/split.yaml --probs-dir results/synthetic/probs --out next_step.json
"""

import argparse
import logging
import sys

import torch

from sbm.cli import run
from sbm.eval.load import add_arguments, from_arguments
from sbm.eval.metrics import Reliability
from sbm.eval.next_step import next_step_errors, summarise
from sbm.io.atomic import write_json


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--stride", type=int, default=1, help="frames between evaluated windows")
    args = p.parse_args(argv)
    heldout, paths, model, forecasters = from_arguments(args)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    reliability = {name: Reliability() for name in ("sbm", "persistence", "ridge", "mlp")}
    per_fish = [next_step_errors(model, path, args.stride, args.batch_size, device, forecasters, reliability, progress=True) for path in paths]
    calibration = {name: r.result() for name, r in reliability.items() if r.count.sum() > 0}
    result = {"heldout": heldout, "stride": args.stride, "context": model.cfg.context, **summarise(per_fish),
              "ece": {name: c["ece"] for name, c in calibration.items()}, "calibration": calibration,
              "baseline_fits": forecasters.info if forecasters else None}
    logging.info("held-out next-step MAE: %s; SBM / baseline: %s; ECE: %s", result["mae"], result["sbm_over_baseline"], result["ece"])
    write_json(args.out, result)


if __name__ == "__main__":
    sys.exit(run(_main))
